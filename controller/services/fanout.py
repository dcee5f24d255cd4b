"""A batch's steps as parallel work: one task runs a chunk of steps concurrently, then advances the rollout once.

Why a task per chunk of steps (asyncio + a semaphore) rather than a Celery group of one task per step: the
steps share the worker's loop, Redis pool and keep-alive agent connections, and the rollout is advanced once
per chunk instead of once per step under its mutex. The guarantees stay those of the step:

- at most the job's `parallelism` steps run at once (`chunks` splits it between a batch's chunk tasks);
  a step that left its chunk to retry runs outside that count when its delay is over;
- a batch only starts when the previous one has ended and the failure budget allows it (`advance`), so
  parallelism within a batch cannot overshoot `max_failures`: the budget is checked between batches, as
  before, when every step of a batch was already dispatched at once;
- a step that must retry or wait for the agent lock leaves the chunk as a delayed single-step task;
- a chunk whose worker dies is delivered again and re-runs only the steps that have not ended (each step
  is idempotent, see steps.py);
- while Redis is unreachable a step waits and runs again in place (`outlast_outage`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from controller.services.rollout import Dispatch, advance
from controller.services.steps import WorkerEnv, run_step

log = logging.getLogger("iisfleet.controller.fanout")
_T = TypeVar("_T")
REDIS_OUTAGE = 60.0
"""Seconds a task keeps waiting for Redis to come back before it gives up."""
Later = Callable[[str, str, float], Awaitable[None]]
"""Run one step of a job again after a delay (a single-step Celery task with a countdown)."""


async def outlast_outage(
    run: Callable[[], Awaitable[_T]], errors: tuple[type[Exception], ...] = (RedisError, TimeoutError),
    outage: float = REDIS_OUTAGE,
) -> _T:
    """Run an idempotent service call; while Redis is unreachable, wait and run it again.

    Retrying in place keeps the task's message unacknowledged: Celery's own retry would publish to the
    broker that is down, and a failed publish drops the message. Past `outage` the error propagates and the
    job reaper fails the job if nothing else finishes it.
    """
    deadline = time.monotonic() + outage
    delay = 0.5
    while True:
        try:
            return await run()
        except errors:
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unreachable; running again in %.1f s", delay, exc_info=True)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(5.0, delay * 2)


async def run_chunk(
    env: WorkerEnv, job_id: str, agent_ids: list[str], dispatch: Dispatch, later: Later, limit: int | None = None
) -> None:
    """Run these steps of a job concurrently, at most `limit` at once (None: the controller's job_parallelism,
    as for a chunk enqueued before chunks carried their limit), then advance the job."""
    running = asyncio.Semaphore(max(1, limit or env.settings.job_parallelism))

    async def one(agent_id: str) -> None:
        async with running:
            outcome = await outlast_outage(lambda: run_step(env, job_id, agent_id, dispatch, advance_after=False))
        if outcome.kind != "done":
            await later(job_id, agent_id, outcome.delay)

    async with asyncio.TaskGroup() as group:
        for agent_id in dict.fromkeys(agent_ids):
            group.create_task(one(agent_id))
    await outlast_outage(lambda: advance(env.store, job_id, dispatch))


def chunks(agent_ids: list[str], size: int, parallelism: int | None = None) -> list[tuple[list[str], int]]:
    """A batch as chunk tasks of about `size` steps, each with its share of the job's `parallelism`.

    The shares add up to `parallelism` (default `size`), so the chunks of a batch, even when they run at once
    on several worker threads or processes, never have more steps in flight than the job allows: fewer
    parallelism than chunks makes fewer, larger chunks (parallelism 1 is one chunk running one step at a
    time). Slices are consecutive, their lengths in proportion to their shares, so the chunks end together.
    """
    ids = list(dict.fromkeys(agent_ids))
    if not ids:
        return []
    size, allowed = max(1, size), max(1, parallelism or size)
    count = min(-(-len(ids) // size), allowed)
    share, bigger = divmod(allowed, count)
    out, start, granted = [], 0, 0
    for index in range(count):
        limit = share + (1 if index < bigger else 0)
        granted += limit
        end = len(ids) * granted // allowed
        if end > start:
            out.append((ids[start:end], limit))
        start = end
    return out
