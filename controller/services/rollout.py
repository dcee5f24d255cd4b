"""Rolling a job out: batches in order, the failure budget, cancellation, and the reaper of stalled jobs.

`advance` is the one decision point. It runs after a job is queued and after every step ends, under a short
per-job mutex, and is idempotent: calling it twice in the same state changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from controller.services.job_models import FINISHED, STEP_DONE
from controller.services.jobs import dumps, emit
from controller.store import FleetStore

log = logging.getLogger("iisfleet.controller.rollout")
Dispatch = Callable[[str, list[str], int | None], Awaitable[None]]
"""Enqueue the steps of these agents of a job, to run at most `parallelism` at once (None: the controller's
job_parallelism), as Celery tasks in the worker, anything in tests."""
Start = tuple[list[str], int | None]
"""What a rollout decision starts: agent ids and the job's parallelism."""
MUTEX_TTL = 15.0
MUTEX_WAIT = 20.0
ACTIVE = frozenset({"queued", "waiting", "running", "retrying"})


async def _locked(store: FleetStore, job_id: str, work: Callable[[], Awaitable[Start]], dispatch: Dispatch) -> None:
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + MUTEX_WAIT
    while not await store.try_mutex(job_id, owner, MUTEX_TTL):
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id}: rollout mutex busy for {MUTEX_WAIT:.0f} s")
        await asyncio.sleep(0.02)
    try:
        start, parallelism = await work()
    finally:
        await store.release_mutex(job_id, owner)
    if start:
        await dispatch(job_id, start, parallelism)


async def advance(store: FleetStore, job_id: str, dispatch: Dispatch) -> None:
    """Start the next batch, or finish the job, according to the per-agent results."""
    await _locked(store, job_id, lambda: _decide(store, job_id), dispatch)


async def _decide(store: FleetStore, job_id: str) -> Start:
    job = await store.job(job_id)
    if not job or job["status"] in FINISHED:
        return [], None
    results = {agent_id: json.loads(raw) for agent_id, raw in (await store.job_results(job_id)).items()}
    batches: list[list[str]] = json.loads(job["batches"])
    batch = int(job["batch"])
    if job.get("cancel") == "1":
        await _mark(store, job_id, results, {"pending", "queued", "waiting"}, "cancelled", "the job was cancelled")
        if not any(r["status"] in ACTIVE for r in results.values()):
            await finish(store, job_id, "cancelled", "cancelled by the operator")
        return [], None
    if batch >= 0 and any(results[agent_id]["status"] not in STEP_DONE for agent_id in batches[batch]):
        return [], None
    strategy = json.loads(job["strategy"])
    failures = sum(1 for r in results.values() if r["status"] == "failed")
    budget = strategy.get("max_failures")
    if budget and failures >= budget:
        await _mark(store, job_id, results, {"pending"}, "skipped", f"not started: max_failures ({budget}) reached")
        await finish(store, job_id, "failed", f"{failures} host(s) failed; max_failures is {budget}")
        return [], None
    if batch + 1 < len(batches):
        agents = await _start_batch(store, job_id, job, batch + 1, batches[batch + 1], results)
        return agents, strategy.get("parallelism")
    if failures:
        await finish(store, job_id, "failed", f"{failures} of {len(results)} host(s) failed")
    else:
        await finish(store, job_id, "succeeded")
    return [], None


async def _start_batch(
    store: FleetStore, job_id: str, job: dict[str, str], index: int, agents: list[str], results: dict[str, Any]
) -> list[str]:
    now = time.time()
    fields = {"batch": str(index), "status": "running"}
    if not job.get("started"):
        fields["started"] = f"{now:.3f}"
    await store.update_job(job_id, fields)
    updates = {}
    for agent_id in agents:
        if results[agent_id]["status"] == "pending":
            updates[agent_id] = dumps({**results[agent_id], "status": "queued"})
    await store.set_results(job_id, updates)
    if index == 0:
        await emit(store, job_id, "job.started")
    await emit(store, job_id, "batch.started", batch=index, agents=agents)
    return agents


async def _mark(
    store: FleetStore, job_id: str, results: dict[str, Any], current: set[str], status: str, detail: str
) -> None:
    updates = {}
    for agent_id, result in results.items():
        if result["status"] in current:
            result.update(status=status, detail=detail)
            updates[agent_id] = dumps(result)
    await store.set_results(job_id, updates)
    for agent_id in updates:
        await emit(store, job_id, f"step.{status}", agent=agent_id, detail=detail)


async def finish(store: FleetStore, job_id: str, status: str, error: str = "") -> None:
    """Record the job's final status (it leaves the active set) and emit `job.finished`."""
    await store.update_job(job_id, {"status": status, "finished": f"{time.time():.3f}", "error": error},
                           finished=True)
    await emit(store, job_id, "job.finished", status=status, error=error)


async def reap(store: FleetStore, default_stall: float) -> list[str]:
    """Fail every active job without progress for its stall timeout; returns their ids."""
    reaped = []
    now = time.time()
    for job_id in await store.active_jobs():
        job = await store.job(job_id)
        if not job:
            continue
        if job["status"] in FINISHED:
            await store.update_job(job_id, {}, finished=True)
            continue
        stall = json.loads(job["strategy"]).get("stall_timeout") or default_stall
        if now - float(job.get("touched") or job["created"]) <= stall:
            continue

        async def work(job_id: str = job_id, stall: float = stall) -> Start:
            current = await store.job(job_id)
            if not current or current["status"] in FINISHED:
                return [], None
            results = {a: json.loads(r) for a, r in (await store.job_results(job_id)).items()}
            detail = f"no progress for {stall:.0f} s (worker or Redis lost?)"
            await _mark(store, job_id, results, set(ACTIVE) | {"pending"}, "failed", detail)
            await finish(store, job_id, "failed", f"stalled: {detail}")
            return [], None

        await _locked(store, job_id, work, _no_dispatch)
        log.warning("job %s stalled and was marked failed", job_id)
        reaped.append(job_id)
    return reaped


async def _no_dispatch(job_id: str, agents: list[str], parallelism: int | None) -> None:
    return None
