"""Thin Celery tasks: decode arguments, run the plain service on the process's shared loop, and retry.

Every task is acks_late with reject_on_worker_lost: a task whose worker dies is delivered again (Redis hands
it out after the visibility timeout), and the services make that second run harmless. The rollout enqueues
one CHUNK task per slice of a batch (its steps run concurrently, within the chunk's share of the job's
parallelism); a step that has to retry or wait for its agent's lock continues as a delayed single-step STEP
task.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from controller.services.fanout import Later, chunks, outlast_outage, run_chunk
from controller.services.rollout import Dispatch, advance
from controller.services.steps import WorkerEnv, run_step
from controller.settings import ControllerSettings
from controller.worker.runtime import WorkerRuntime

ADVANCE = "iisfleet.jobs.advance"
STEP = "iisfleet.jobs.step"
CHUNK = "iisfleet.jobs.chunk"
# shared=False: each app (API, worker, tests) gets its own tasks instead of Celery's process-wide registry.
TASK_OPTIONS: dict[str, Any] = {
    "shared": False, "bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": None,
}


def celery_dispatch(app: Any, chunk_size: int) -> Dispatch:
    """A Dispatch that enqueues a batch as CHUNK tasks of about `chunk_size` steps, each with its step limit."""

    async def dispatch(job_id: str, agent_ids: list[str], parallelism: int | None) -> None:
        for part, limit in chunks(agent_ids, chunk_size, parallelism):
            await asyncio.to_thread(app.send_task, CHUNK, args=[job_id, part, limit])

    return dispatch


def celery_later(app: Any) -> Later:
    """Run one step again after a delay, as a STEP task with a countdown (waiting out a broker outage)."""

    async def later(job_id: str, agent_id: str, delay: float) -> None:
        await outlast_outage(lambda: asyncio.to_thread(app.send_task, STEP, args=[job_id, agent_id], countdown=delay),
                             errors=(OperationalError, RedisError, TimeoutError))

    return later


def register_tasks(app: Any, settings: ControllerSettings, redis_url: str) -> WorkerRuntime:
    """Define the job tasks on `app` for a worker with these settings; returns the process's runtime."""
    runtime = WorkerRuntime(settings, redis_url)
    dispatch = celery_dispatch(app, settings.job_parallelism)
    later = celery_later(app)

    async def step(env: WorkerEnv, job_id: str, agent_id: str) -> tuple[str, float]:
        outcome = await outlast_outage(lambda: run_step(env, job_id, agent_id, dispatch))
        return outcome.kind, outcome.delay

    @app.task(name=ADVANCE, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def advance_task(self: Any, job_id: str) -> None:
        runtime.run(lambda env: outlast_outage(lambda: advance(env.store, job_id, dispatch)))

    @app.task(name=CHUNK, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def chunk_task(self: Any, job_id: str, agent_ids: list[str], limit: int | None = None) -> None:
        runtime.run(lambda env: run_chunk(env, job_id, list(agent_ids), dispatch, later, limit))

    @app.task(name=STEP, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def step_task(self: Any, job_id: str, agent_id: str) -> None:
        kind, delay = runtime.run(lambda env: step(env, job_id, agent_id))
        if kind != "done":
            raise self.retry(countdown=delay)

    return runtime
