"""One agent's step of a job: lock the agent, run the action, verify, record the result, advance the rollout.

Idempotent by construction: a step that already finished is not run again, facts that a side effect depends
on are recorded in Redis before it happens (see StepContext.remember), and the actions themselves converge
on an end state (a site that exists with the same settings, a version folder that exists complete).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from controller.pki import CertificateAuthority
from controller.services.actions import ACTIONS
from controller.services.actions.base import StepContext
from controller.services.agent_client import AgentClient, StepError, open_agent_session, probe_session
from controller.services.enrollment import agent_serials
from controller.services.job_models import FINISHED, STEP_DONE, Strategy
from controller.services.jobs import dumps, emit, job_operator, job_params
from controller.services.rollout import Dispatch, advance
from controller.settings import ControllerSettings
from controller.store import FleetStore
from shared.secretbox import SecretBox

log = logging.getLogger("iisfleet.controller.steps")
BACKOFF_CAP = 60.0
LOCK_WAIT = 1.0


@dataclass(slots=True)
class WorkerEnv:
    """What a step needs from its process: settings, Redis, the agent mTLS session and a probe session."""

    settings: ControllerSettings
    store: FleetStore
    session: aiohttp.ClientSession
    probe: aiohttp.ClientSession
    secrets: SecretBox


@asynccontextmanager
async def worker_env(settings: ControllerSettings, redis_url: str) -> AsyncIterator[WorkerEnv]:
    """Open Redis and the HTTP sessions for one task (each task runs its own event loop)."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        ca = CertificateAuthority(settings.pki_dir)
        async with open_agent_session(settings, ca) as session, probe_session() as probe:
            yield WorkerEnv(settings, FleetStore(redis, settings.redis_prefix), session, probe,
                            SecretBox(settings.state_dir / "secrets.key"))
    finally:
        await redis.aclose()


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What the task should do next: nothing, retry after `delay` (counts), or wait for the agent lock."""

    kind: Literal["done", "retry", "wait"]
    delay: float = 0.0


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
    return float(min(BACKOFF_CAP, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0))


async def _save(env: WorkerEnv, job_id: str, agent_id: str, result: dict[str, Any], event: str, **extra: Any) -> None:
    await env.store.set_results(job_id, {agent_id: dumps(result)})
    await emit(env.store, job_id, event, agent=agent_id, status=result["status"], attempts=result.get("attempts", 0),
               detail=result.get("detail", ""), **extra)


async def run_step(env: WorkerEnv, job_id: str, agent_id: str, dispatch: Dispatch) -> StepOutcome:
    """Run (or skip, when already done) one agent's step of a job."""
    store = env.store
    job = await store.job(job_id)
    if not job or job["status"] in FINISHED:
        return StepOutcome("done")
    result: dict[str, Any] = json.loads((await store.job_results(job_id)).get(agent_id) or "{}")
    if not result or result.get("status") in STEP_DONE:
        await advance(store, job_id, dispatch)  # the advance after it may have been lost with a worker
        return StepOutcome("done")
    if job.get("cancel") == "1":
        result.update(status="cancelled", detail="the job was cancelled before this step started")
        await _save(env, job_id, agent_id, result, "step.cancelled")
        await advance(store, job_id, dispatch)
        return StepOutcome("done")
    owner = f"{job_id}:{agent_id}"
    fence = await store.lock_agent(agent_id, owner, env.settings.agent_lock_ttl)
    if not fence:
        if result.get("status") != "waiting":
            result.update(status="waiting", detail="another job is changing this agent")
            await _save(env, job_id, agent_id, result, "step.waiting")
        return StepOutcome("wait", LOCK_WAIT)
    outcome = await _attempt(env, job, job_id, agent_id, result, owner, fence)
    if outcome.kind == "done":
        await store.unlock_agent(agent_id, owner)
        await advance(store, job_id, dispatch)
    else:
        await store.unlock_agent(agent_id, owner)
    return outcome


async def _attempt(
    env: WorkerEnv, job: dict[str, str], job_id: str, agent_id: str, result: dict[str, Any], owner: str, fence: int
) -> StepOutcome:
    strategy = Strategy.model_validate_json(job["strategy"])
    spec = ACTIONS[job["action"]]
    params = spec.params.model_validate(job_params(job, env.secrets))
    record = await env.store.agent(agent_id)
    attempts = int(result.get("attempts", 0)) + 1
    started = time.time()
    result.update(status="running", attempts=attempts, detail="", started_on=result.get("started_on") or started)
    await _save(env, job_id, agent_id, result, "step.started")
    try:
        if not record:
            raise StepError(f"agent {agent_id} is no longer enrolled")
        client = AgentClient(env.session, record["url"], env.secrets.open(record["api_key"]), record.get("name", ""),
                             serial=agent_serials(record), operator=job_operator(job))
        ctx = StepContext(store=env.store, settings=env.settings, client=client, probe=env.probe, job_id=job_id,
                          agent_id=agent_id, job=job, strategy=strategy, owner=owner, fence=fence,
                          facts=await env.store.step_facts(job_id, agent_id))
        output = await spec.run(ctx, params)
    except StepError as err:
        if err.transient and attempts <= strategy.retries:
            delay = backoff(attempts, strategy.retry_delay)
            result.update(status="retrying", detail=str(err), retry_in=round(delay, 2))
            await _save(env, job_id, agent_id, result, "step.retrying")
            return StepOutcome("retry", delay)
        result.update(status="failed", detail=str(err), finished_on=time.time())
        await _save(env, job_id, agent_id, result, "step.failed")
        return StepOutcome("done")
    except RedisError:
        raise  # Redis itself is gone: the task retries or is redelivered; the result stays as it was
    except Exception as err:  # noqa: BLE001 - a bug in one action fails that host's step, not the worker
        log.exception("job %s: step on %s crashed", job_id, agent_id)
        result.update(status="failed", detail=f"internal error: {type(err).__name__}: {err}", finished_on=time.time())
        await _save(env, job_id, agent_id, result, "step.failed")
        return StepOutcome("done")
    result.pop("retry_in", None)
    result.update(status="succeeded", detail="", output=output, finished_on=time.time(),
                  seconds=round(time.time() - started, 3))
    await _save(env, job_id, agent_id, result, "step.succeeded")
    return StepOutcome("done")
