"""Fleet jobs: create (validate, resolve the target, plan batches), show, page through, cancel, re-run.

A job is a Redis hash plus a per-agent result hash and an append-only event stream (see controller/store.py).
Rolling it out is controller/services/rollout.py; one agent's step is controller/services/steps.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from controller.auth.operators import SYSTEM, Operator
from controller.auth.roles import ROLES, Role
from controller.services.actions import ACTIONS
from controller.services.errors import InvalidRequest, UnknownAgent
from controller.services.job_access import authorise, check_scope
from controller.services.job_models import FINISHED, STEP_DONE, JobRequest
from controller.services.redact import redact
from controller.settings import ControllerSettings
from controller.store import FleetStore
from shared.secretbox import SecretBox

MAX_PER_PAGE = 200


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC time with milliseconds."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def dumps(value: Any) -> str:
    """Compact JSON for Redis fields."""
    return json.dumps(value, separators=(",", ":"))


async def emit(store: FleetStore, job_id: str, kind: str, **fields: Any) -> str:
    """Append an event to the job's history and note the job as alive (the reaper looks at `touched`)."""
    now = time.time()
    event = {"type": kind, "ts": f"{now:.3f}", "data": dumps(fields)}
    event_id = await store.add_event(job_id, event)
    await store.update_job(job_id, {"touched": f"{now:.3f}"})
    return event_id


def _validate_params(action: str, params: dict[str, Any], settings: ControllerSettings) -> dict[str, Any]:
    spec = ACTIONS.get(action)
    if spec is None:
        known = ", ".join(sorted(ACTIONS))
        raise InvalidRequest(f"unknown action {action!r}; known actions: {known}", name="action")
    try:
        model = spec.params.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRequest(f"{first['msg']}", name=f"params.{where}" if where else "params") from err
    if spec.check is not None:
        spec.check(model, settings)
    return model.model_dump(mode="json")


async def resolve_target(store: FleetStore, request: JobRequest) -> list[tuple[str, str]]:
    """(agent id, name) of every targeted agent: in the given order for ids, by name for labels."""
    directory = await store.directory()
    if request.target.agents is not None:
        missing = [agent_id for agent_id in request.target.agents if agent_id not in directory]
        if missing:
            raise InvalidRequest(f"no agent has id {missing[0]!r}", name="target.agents")
        chosen = list(dict.fromkeys(request.target.agents))
        pairs = [(agent_id, str(directory[agent_id]["name"])) for agent_id in chosen]
    else:
        wanted = request.target.labels or {}
        pairs = sorted(
            ((agent_id, str(entry["name"])) for agent_id, entry in directory.items()
             if all(entry["labels"].get(k) == v for k, v in wanted.items())),
            key=lambda pair: (pair[1], pair[0]),
        )
    if not pairs:
        raise InvalidRequest("the target matches no agent", name="target")
    return pairs


def _stored_params(settings: ControllerSettings, params: dict[str, Any]) -> dict[str, str]:
    """`params` redacted for the history, plus the real ones sealed when they hold a secret."""
    shown = redact(params)
    fields = {"params": dumps(shown)}
    if shown != params:
        fields["params_sealed"] = SecretBox(settings.state_dir / "secrets.key").seal(dumps(params))
    return fields


def job_params(job: dict[str, str], box: SecretBox) -> dict[str, Any]:
    """The params a step runs with: the sealed originals when the history shows a redacted copy."""
    sealed = job.get("params_sealed")
    loaded: dict[str, Any] = json.loads(box.open(sealed) if sealed else job["params"])
    return loaded


def plan_batches(agent_ids: Sequence[str], batch_size: int) -> list[list[str]]:
    """Consecutive batches of `batch_size` agents (all in one batch for 0)."""
    size = batch_size or len(agent_ids)
    return [list(agent_ids[start : start + size]) for start in range(0, len(agent_ids), size)]


def job_operator(job: dict[str, str]) -> Operator:
    """The operator a job runs for (jobs stored before attribution run for the controller itself)."""
    if not job.get("operator"):
        return SYSTEM
    role: Role = next((r for r in ROLES if r == job.get("operator_role")), "viewer")
    return Operator(id=job["operator"], purpose=job.get("operator_purpose", ""), role=role)


async def create_job(
    store: FleetStore, settings: ControllerSettings, request: JobRequest, *, parent: str | None = None,
    agents: list[tuple[str, str]] | None = None, operator: Operator = SYSTEM,
) -> str:
    """Validate, authorise and store a queued job; returns its id (the caller enqueues its first rollout step)."""
    params = _validate_params(request.action, request.params, settings)
    authorise(operator, request.action, params)
    pairs = agents if agents is not None else await resolve_target(store, request)
    await check_scope(store, operator, request, [agent_id for agent_id, _ in pairs])
    batches = plan_batches([agent_id for agent_id, _ in pairs], request.strategy.batch_size)
    job_id = uuid.uuid4().hex[:16]
    now = time.time()
    names = dict(pairs)
    fields = {
        "action": request.action,
        "target": request.target.model_dump_json(exclude_none=True),
        **_stored_params(settings, params),
        "strategy": request.strategy.model_dump_json(),
        "status": "queued",
        "agents": dumps([agent_id for agent_id, _ in pairs]),
        "names": dumps(names),
        "batches": dumps(batches),
        "batch": "-1",
        "created": f"{now:.3f}",
        "touched": f"{now:.3f}",
        "parent": parent or "",
        **operator.attribution(),
    }
    results = {
        agent_id: dumps({"status": "pending", "batch": index, "attempts": 0})
        for index, batch in enumerate(batches)
        for agent_id in batch
    }
    await store.add_job(job_id, fields, results, now)
    await emit(store, job_id, "job.created", action=request.action, agents=len(pairs), batches=len(batches))
    return job_id


def _result_view(agent_id: str, name: str, raw: str | None) -> dict[str, Any]:
    result = json.loads(raw) if raw else {"status": "pending"}
    return {"agent": agent_id, "name": name, **result}


async def job_view(store: FleetStore, job_id: str, *, with_results: bool = True) -> dict[str, Any]:
    """The public form of a job."""
    job = await store.job(job_id)
    if not job:
        raise UnknownAgent(f"no job has id {job_id!r}")
    names: dict[str, str] = json.loads(job["names"])
    raw = await store.job_results(job_id)
    ordered: list[str] = json.loads(job["agents"])
    results = [_result_view(agent_id, names.get(agent_id, ""), raw.get(agent_id)) for agent_id in ordered]
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    view: dict[str, Any] = {
        "id": job_id,
        "action": job["action"],
        "status": job["status"],
        "target": json.loads(job["target"]),
        "params": json.loads(job["params"]),
        "strategy": json.loads(job["strategy"]),
        "created_on": iso(float(job["created"])),
        "started_on": iso(float(job["started"])) if job.get("started") else None,
        "finished_on": iso(float(job["finished"])) if job.get("finished") else None,
        "batch": int(job["batch"]),
        "batches": len(json.loads(job["batches"])),
        "counts": counts,
        "error": job.get("error") or None,
        "parent": job.get("parent") or None,
        "cancel_requested": job.get("cancel") == "1",
        "operator": {"id": job["operator"], "purpose": job.get("operator_purpose", ""),
                     "role": job.get("operator_role", "")} if job.get("operator") else None,
        "_links": {"self": f"/api/jobs/{job_id}", "events": f"/api/jobs/{job_id}/events"},
    }
    if with_results:
        view["results"] = results
    return view


async def list_jobs(store: FleetStore, page: int, per_page: int, cursor: float | None) -> dict[str, Any]:
    """One page of the history, newest first, with a cursor for the next page."""
    per_page = max(1, min(MAX_PER_PAGE, per_page))
    rows = await store.job_page((max(1, page) - 1) * per_page, per_page, cursor)
    jobs = [await job_view(store, job_id, with_results=False) for job_id, _ in rows]
    next_cursor = repr(rows[-1][1]) if len(rows) == per_page else None
    return {"jobs": jobs, "total": await store.job_count(), "page": page, "per_page": per_page,
            "next_cursor": next_cursor}


async def request_cancel(store: FleetStore, job_id: str) -> dict[str, Any]:
    """Flag a job as cancelled; no new step starts, running ones finish (rollout marks the rest)."""
    job = await store.job(job_id)
    if not job:
        raise UnknownAgent(f"no job has id {job_id!r}")
    if job["status"] in FINISHED:
        raise InvalidRequest(f"job {job_id} has already finished ({job['status']})", name="id")
    await store.update_job(job_id, {"cancel": "1"})
    await emit(store, job_id, "job.cancel_requested")
    return await job_view(store, job_id)


async def rerun_request(
    store: FleetStore, job_id: str, box: SecretBox
) -> tuple[JobRequest, list[tuple[str, str]]]:
    """The request and the agents of a re-run: every agent that did not succeed in a finished job."""
    job = await store.job(job_id)
    if not job:
        raise UnknownAgent(f"no job has id {job_id!r}")
    if job["status"] not in FINISHED:
        raise InvalidRequest(f"job {job_id} is still {job['status']}; cancel it or wait", name="id")
    names: dict[str, str] = json.loads(job["names"])
    raw = await store.job_results(job_id)
    again = [
        (agent_id, names.get(agent_id, ""))
        for agent_id in json.loads(job["agents"])
        if json.loads(raw.get(agent_id) or "{}").get("status") in STEP_DONE - {"succeeded"}
    ]
    if not again:
        raise InvalidRequest(f"every agent of job {job_id} succeeded; nothing to re-run", name="id")
    directory = await store.directory()
    again = [(agent_id, name) for agent_id, name in again if agent_id in directory]
    if not again:
        raise InvalidRequest("the agents that failed have all been removed from the fleet", name="id")
    request = JobRequest.model_validate(
        {"action": job["action"], "target": {"agents": [a for a, _ in again]}, "params": job_params(job, box),
         "strategy": json.loads(job["strategy"])}
    )
    return request, again
