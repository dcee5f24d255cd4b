"""iis.request: any method, path and body on the agent's IIS Administration API."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from controller.services.actions.base import StepContext
from controller.services.agent_client import PermanentError
from controller.services.job_models import Strict
from controller.services.redact import HIDDEN, is_credential_path, redact

RESULT_LIMIT = 16 * 1024
"""Bytes of the answer kept in the job result; the job history is not a data store."""


class RequestParams(Strict):
    """One call; by default any 2xx answer succeeds."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    # No `#`: a fragment is never sent, so it would hide the real agent path from the role lookup (job_access.py).
    path: str = Field(pattern=r"^/api(/[^#]*)?(\?[^#]*)?$")
    body: Any = None
    expect_status: list[int] | None = None


async def run(ctx: StepContext, params: RequestParams) -> dict[str, Any]:
    """Send the call (a changing call only once per job), keep the status and a bounded copy of the answer."""
    if params.method not in ("GET", "HEAD"):
        if ctx.facts.get("sent") == "1":
            return dict(json.loads(ctx.facts.get("answer") or "{}")) | {"redelivered": True}
        await ctx.guard()
    status, answer_body = await ctx.client.call(params.method, params.path, body=params.body, allow=range(400, 500))
    # The job history keeps no token, password or key the agent answered with, nor any credential endpoint's answer.
    body = HIDDEN if is_credential_path(params.path) and answer_body not in (None, "") else redact(answer_body)
    expected = params.expect_status or list(range(200, 300))
    text = json.dumps(body) if not isinstance(body, str) else body
    answer = {"status": status, "body": body if len(text) <= RESULT_LIMIT else text[:RESULT_LIMIT] + "…"}
    if params.method not in ("GET", "HEAD"):
        await ctx.remember(sent="1", answer=json.dumps(answer))
    if status not in expected:
        raise PermanentError(f"{ctx.client.name} answered {status} to {params.method} {params.path}: {text[:300]}")
    return answer
