"""A step leaves no agent lock behind when Redis goes away between saving its result and unlocking the agent.

The step runs again (outlast_outage, or a redelivered task), finds its result saved and ends without running;
it must still release the lock, or the agent's next job waits for the whole lock TTL (and is reaped as
stalled when the stall timeout is shorter). Real Redis and the real worker environment; the agent listens on
a closed port, so the step fails at once (a finished step all the same).
"""

from __future__ import annotations

import json
from pathlib import Path

from redis.exceptions import ConnectionError as RedisConnectionError

from controller.services import fanout, jobs, steps
from controller.services.job_models import JobRequest
from controller.services.rollout import finish
from controller.services.steps import WorkerEnv, worker_env
from controller.settings import ControllerSettings
from controller.store import FleetStore
from tests.controller.conftest import free_port

AGENT = "a1"
TTL = 300.0


async def _nothing(job: str, agents: list[str], parallelism: int | None = None) -> None:
    return None


async def _job(env: WorkerEnv, settings: ControllerSettings) -> str:
    await env.store.put_agent(AGENT, {"name": "web1", "url": f"https://127.0.0.1:{free_port()}", "labels": "{}",
                                      "api_key": "key"})
    request = JobRequest.model_validate({"action": "pool.recycle", "target": {"agents": [AGENT]},
                                         "params": {"name": "p"}, "strategy": {"retries": 0}})
    return await jobs.create_job(env.store, settings, request)


async def _free_for_another_job(store: FleetStore) -> bool:
    return await store.lock_agent(AGENT, "another-job:" + AGENT, TTL) > 0


async def test_an_unlock_cut_off_by_redis_is_done_by_the_rerun(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = ControllerSettings(state_dir=tmp_path, redis_url=redis_url, redis_prefix=prefix, agent_lock_ttl=TTL)
    async with worker_env(settings, redis_url) as env:
        try:
            job_id = await _job(env, settings)
            real_unlock = env.store.unlock_agent
            cut: list[str] = []

            async def unlock_once_lost(agent_id: str, owner: str) -> None:
                if not cut:
                    cut.append(owner)  # Redis went away right after the step saved its result
                    raise RedisConnectionError("Connection closed by server.")
                await real_unlock(agent_id, owner)

            env.store.unlock_agent = unlock_once_lost  # type: ignore[method-assign]
            outcome = await fanout.outlast_outage(lambda: steps.run_step(env, job_id, AGENT, _nothing))
            assert outcome.kind == "done" and cut == [f"{job_id}:{AGENT}"]
            assert json.loads((await env.store.job_results(job_id))[AGENT])["status"] == "failed"
            assert await _free_for_another_job(env.store)
        finally:
            await env.store.clear()


async def test_a_step_of_a_finished_job_releases_its_lock(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = ControllerSettings(state_dir=tmp_path, redis_url=redis_url, redis_prefix=prefix, agent_lock_ttl=TTL)
    async with worker_env(settings, redis_url) as env:
        try:
            job_id = await _job(env, settings)
            # The step held the lock when its run was cut off, and the reaper finished the job meanwhile.
            assert await env.store.lock_agent(AGENT, f"{job_id}:{AGENT}", TTL)
            await finish(env.store, job_id, "failed", "stalled: test")
            assert not await _free_for_another_job(env.store)
            assert (await steps.run_step(env, job_id, AGENT, _nothing)).kind == "done"
            assert await _free_for_another_job(env.store)
        finally:
            await env.store.clear()
