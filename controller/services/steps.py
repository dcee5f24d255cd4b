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
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from controller.pki import CertificateAuthority
from controller.services.actions import ACTIONS
from controller.services.actions.base import StepContext
from controller.services.agent_client import PROBE_TIMEOUT, AgentClient, StepError, open_agent_session
from controller.services.enrollment import agent_serials
from controller.services.job_models import FINISHED, STEP_DONE, Strategy
from controller.services.jobs import dumps, event_record, job_operator, job_params
from controller.services.rollout import Dispatch, advance
from controller.settings import ControllerSettings
from controller.state_lock import state_lock
from controller.store import FleetStore
from shared.secretbox import SecretBox

log = logging.getLogger("iisfleet.controller.steps")
BACKOFF_CAP = 60.0
LOCK_WAIT = 1.0
MAX_KEYS = 100_000


@dataclass(slots=True)
class WorkerEnv:
    """What a step needs from its process: settings, Redis, the agent mTLS session and a probe session."""

    settings: ControllerSettings
    store: FleetStore
    session: aiohttp.ClientSession
    probe: aiohttp.ClientSession
    secrets: SecretBox
    keys: dict[str, str] = field(default_factory=dict)

    def api_key(self, sealed: str) -> str:
        """An agent's API key in clear, decrypted once per process (keyed by its ciphertext)."""
        if sealed not in self.keys:
            if len(self.keys) > MAX_KEYS:
                self.keys.clear()
            self.keys[sealed] = self.secrets.open(sealed)
        return self.keys[sealed]


async def open_worker_env(settings: ControllerSettings, redis_url: str) -> WorkerEnv:
    """Open Redis and the HTTP sessions, on the running loop (a worker process keeps them for many tasks)."""
    redis = Redis.from_url(redis_url, decode_responses=True, health_check_interval=30)
    ca = CertificateAuthority(settings.pki_dir)
    session = open_agent_session(settings, ca, limit=max(256, settings.job_parallelism * 2))
    probe = aiohttp.ClientSession(timeout=PROBE_TIMEOUT)
    with state_lock(settings.state_dir):
        secrets = SecretBox(settings.state_dir / "secrets.key")
    return WorkerEnv(settings, FleetStore(redis, settings.redis_prefix), session, probe, secrets)


async def close_worker_env(env: WorkerEnv) -> None:
    """Close what open_worker_env opened."""
    await env.session.close()
    await env.probe.close()
    await env.store.redis.aclose()


@asynccontextmanager
async def worker_env(settings: ControllerSettings, redis_url: str) -> AsyncIterator[WorkerEnv]:
    """A WorkerEnv for the duration of a block (tests and one-off tools; workers keep theirs)."""
    env = await open_worker_env(settings, redis_url)
    try:
        yield env
    finally:
        await close_worker_env(env)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What the task should do next: nothing, retry after `delay` (counts), or wait for the agent lock."""

    kind: Literal["done", "retry", "wait"]
    delay: float = 0.0


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
    return float(min(BACKOFF_CAP, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0))


async def _save(env: WorkerEnv, job_id: str, agent_id: str, result: dict[str, Any], event: str, **extra: Any) -> None:
    # One pipelined round trip: the result, its event and the job's `touched` mark.
    now = time.time()
    record = event_record(event, now, agent=agent_id, status=result["status"], attempts=result.get("attempts", 0),
                          detail=result.get("detail", ""), **extra)
    await env.store.save_step_result(job_id, agent_id, dumps(result), record, f"{now:.3f}")


async def run_step(
    env: WorkerEnv, job_id: str, agent_id: str, dispatch: Dispatch, *, advance_after: bool = True
) -> StepOutcome:
    """Run (or skip, when already done) one agent's step of a job.

    With `advance_after` False the caller advances the rollout itself (once for a whole batch).

    A step that will not run releases the agent's lock if this step holds it: a run cut off by a Redis outage
    after saving its result but before its unlock is run again (outlast_outage, a redelivery) and ends here,
    and the lock would otherwise keep the agent's next job waiting for the whole lock TTL.
    """
    store = env.store
    owner = f"{job_id}:{agent_id}"
    job, raw, record, facts = await store.step_state(job_id, agent_id)
    if not job or job["status"] in FINISHED:
        await store.unlock_agent(agent_id, owner)
        return StepOutcome("done")
    result: dict[str, Any] = json.loads(raw or "{}")
    if not result or result.get("status") in STEP_DONE:
        await store.unlock_agent(agent_id, owner)
        if advance_after:
            await advance(store, job_id, dispatch)  # the advance after it may have been lost with a worker
        return StepOutcome("done")
    if job.get("cancel") == "1":
        await store.unlock_agent(agent_id, owner)
        result.update(status="cancelled", detail="the job was cancelled before this step started")
        await _save(env, job_id, agent_id, result, "step.cancelled")
        if advance_after:
            await advance(store, job_id, dispatch)
        return StepOutcome("done")
    fence = await store.lock_agent(agent_id, owner, env.settings.agent_lock_ttl)
    if not fence:
        if result.get("status") != "waiting":
            result.update(status="waiting", detail="another job is changing this agent")
            await _save(env, job_id, agent_id, result, "step.waiting")
        return StepOutcome("wait", LOCK_WAIT)
    step = _Step(job_id, agent_id, job, record, facts, owner, fence)
    outcome = await _attempt(env, step, result)
    await store.unlock_agent(agent_id, owner)
    if outcome.kind == "done" and advance_after:
        await advance(store, job_id, dispatch)
    return outcome


@dataclass(frozen=True, slots=True)
class _Step:
    """What one attempt works from: the job, the agent's record, the step's facts and its lock."""

    job_id: str
    agent_id: str
    job: dict[str, str]
    record: dict[str, str]
    facts: dict[str, str]
    owner: str
    fence: int


async def _attempt(env: WorkerEnv, step: _Step, result: dict[str, Any]) -> StepOutcome:
    job, job_id, agent_id, record = step.job, step.job_id, step.agent_id, step.record
    strategy = Strategy.model_validate_json(job["strategy"])
    spec = ACTIONS[job["action"]]
    params = spec.params.model_validate(job_params(job, env.secrets))
    attempts = int(result.get("attempts", 0)) + 1
    started = time.time()
    result.update(status="running", attempts=attempts, detail="", started_on=result.get("started_on") or started)
    await _save(env, job_id, agent_id, result, "step.started")
    try:
        if not record:
            raise StepError(f"agent {agent_id} is no longer enrolled")
        client = AgentClient(env.session, record["url"], env.api_key(record["api_key"]), record.get("name", ""),
                             serial=agent_serials(record), operator=job_operator(job))
        ctx = StepContext(store=env.store, settings=env.settings, client=client, probe=env.probe, job_id=job_id,
                          agent_id=agent_id, job=job, strategy=strategy, owner=step.owner, fence=step.fence,
                          facts=dict(step.facts))
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
