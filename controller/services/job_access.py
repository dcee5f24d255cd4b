"""Who may start and see which jobs: the role an action needs, and the label scope of the operator's key.

A scoped key may start a job only when every agent its target could reach is inside the scope: a label
selector must pin each scope label, and agent ids must all be in scope now. Refusals happen before anything
is stored or queued. Jobs that touch an agent outside the scope are invisible to the key (404).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from controller.auth.operators import Operator
from controller.auth.paths import normalise_agent_path
from controller.auth.roles import Role, agent_path_role, allows, in_scope, selector_within
from controller.services.errors import NotPermitted, UnknownAgent
from controller.services.job_models import JobRequest
from controller.store import FleetStore


def action_role(action: str, params: Mapping[str, Any]) -> Role:
    """The role starting this action needs: iis.request needs what the same gateway call would."""
    if action == "iis.request":
        path = normalise_agent_path(str(params["path"]).split("?", 1)[0], name="params.path")
        return agent_path_role(str(params.get("method", "GET")), path)
    return "operator"


def authorise(operator: Operator, action: str, params: Mapping[str, Any]) -> None:
    """Refuse an action the operator's role does not reach."""
    needed = action_role(action, params)
    if not allows(operator.role, needed):
        raise NotPermitted(f"{action} with these params needs the {needed} role; key {operator.id} is {operator.role}")


async def check_scope(store: FleetStore, operator: Operator, request: JobRequest, agent_ids: Sequence[str]) -> None:
    """Refuse a job that could reach an agent outside the operator's label scope."""
    if not operator.scope:
        return
    if request.target.agents is None and not selector_within(operator.scope, request.target.labels or {}):
        raise NotPermitted(f"key {operator.id} is scoped to {_text(operator.scope)}; the target's labels must "
                           "include them")
    directory = await store.directory()
    outside = [a for a in agent_ids if not in_scope(operator.scope, directory.get(a, {}).get("labels", {}))]
    if outside:
        raise NotPermitted(f"agent {outside[0]} is outside the scope {_text(operator.scope)} of key {operator.id}")


def _text(scope: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(scope.items()))


async def visible_job(store: FleetStore, operator: Operator, job_id: str) -> None:
    """404 for a job the operator's scope does not cover (every agent of the job must be in scope)."""
    if not operator.scope:
        return
    job = await store.job(job_id)
    directory = await store.directory()
    if not job or not all(
        in_scope(operator.scope, directory.get(agent_id, {}).get("labels", {}))
        for agent_id in json.loads(job.get("agents") or "[]")
    ):
        raise UnknownAgent(f"no job has id {job_id!r}")
