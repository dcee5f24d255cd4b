"""Thin Celery tasks: decode arguments, run the plain service in a fresh event loop, and retry.

Both tasks are acks_late with reject_on_worker_lost: a task whose worker dies is delivered again (Redis
hands it out after the visibility timeout), and the services make that second run harmless.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from redis.exceptions import RedisError

from controller.services.rollout import Dispatch, advance
from controller.services.steps import run_step, worker_env
from controller.settings import ControllerSettings

log = logging.getLogger("iisfleet.controller.tasks")
_T = TypeVar("_T")
REDIS_OUTAGE = 60.0
"""Seconds a task keeps waiting for Redis to come back before it gives up."""
ADVANCE = "iisfleet.jobs.advance"
STEP = "iisfleet.jobs.step"
# shared=False: each app (API, worker, tests) gets its own tasks instead of Celery's process-wide registry.
TASK_OPTIONS: dict[str, Any] = {
    "shared": False, "bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": None,
}


def celery_dispatch(app: Any) -> Dispatch:
    """A Dispatch that enqueues one step task per agent."""

    async def dispatch(job_id: str, agent_ids: list[str]) -> None:
        for agent_id in agent_ids:
            await asyncio.to_thread(app.send_task, STEP, args=[job_id, agent_id])

    return dispatch


def register_tasks(app: Any, settings: ControllerSettings, redis_url: str) -> None:
    """Define the job tasks on `app` for a worker with these settings."""
    dispatch = celery_dispatch(app)

    async def advance_job(job_id: str) -> None:
        async with worker_env(settings, redis_url) as env:
            await advance(env.store, job_id, dispatch)

    async def step(job_id: str, agent_id: str) -> tuple[str, float]:
        async with worker_env(settings, redis_url) as env:
            outcome = await run_step(env, job_id, agent_id, dispatch)
            return outcome.kind, outcome.delay

    @app.task(name=ADVANCE, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def advance_task(self: Any, job_id: str) -> None:
        through_redis_outage(lambda: advance_job(job_id))

    @app.task(name=STEP, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def step_task(self: Any, job_id: str, agent_id: str) -> None:
        kind, delay = through_redis_outage(lambda: step(job_id, agent_id))
        if kind != "done":
            raise self.retry(countdown=delay)


def through_redis_outage(run: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a service call; while Redis is unreachable, wait and run it again (it is idempotent).

    Retrying in place keeps the message unacknowledged: Celery's own retry would have to publish to the
    broker that is down, and a failed publish drops the message. Past REDIS_OUTAGE the error propagates and
    the job reaper fails the job if nothing else finishes it.
    """
    deadline = time.monotonic() + REDIS_OUTAGE
    delay = 0.5
    while True:
        try:
            return asyncio.run(run())
        except (RedisError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unreachable; running the task again in %.1f s", delay, exc_info=True)
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(5.0, delay * 2)
