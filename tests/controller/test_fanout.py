"""A chunk of a batch run over a real Redis and the real worker environment (agents on a closed port).

Steps of a chunk run concurrently and the rollout advances once at the end: the failure budget still stops
the job between batches (no step of the next batch starts), a step that must retry leaves the chunk, and a
chunk delivered again runs nothing twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.services import fanout, jobs, rollout
from controller.services.job_models import JobRequest
from controller.services.steps import worker_env
from controller.settings import ControllerSettings
from tests.controller.conftest import free_port


def _started(events: list[tuple[str, dict[str, str]]]) -> list[str]:
    return sorted(json.loads(f["data"])["agent"] for _, f in events if f["type"] == "step.started")


async def test_a_chunk_runs_its_batch_and_max_failures_stops_before_the_next(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = ControllerSettings(state_dir=tmp_path, redis_url=redis_url, redis_prefix=prefix, job_parallelism=3)
    async with worker_env(settings, redis_url) as env:
        store = env.store
        try:
            closed = free_port()  # nothing listens: every call fails at once
            for n in range(6):
                await store.put_agent(f"a{n}", {"name": f"web{n}", "url": f"https://127.0.0.1:{closed}",
                                               "labels": "{}", "api_key": "key"})
            request = JobRequest.model_validate({
                "action": "pool.recycle", "target": {"labels": {}}, "params": {"name": "p"},
                "strategy": {"batch_size": 3, "max_failures": 2, "retries": 0}})
            job_id = await jobs.create_job(store, settings, request)
            sent: list[list[str]] = []
            later: list[str] = []

            async def dispatch(job: str, agents: list[str], parallelism: int | None = None) -> None:
                sent.append(agents)

            async def run_later(job: str, agent: str, delay: float) -> None:
                later.append(agent)

            await rollout.advance(store, job_id, dispatch)
            assert sent == [["a0", "a1", "a2"]]
            await fanout.run_chunk(env, job_id, sent[0], dispatch, run_later)
            view = await jobs.job_view(store, job_id)
            assert view["status"] == "failed" and "max_failures" in view["error"], view
            assert view["counts"] == {"failed": 3, "skipped": 3}
            assert len(sent) == 1 and later == []  # the next batch was never dispatched
            events = await store.events(job_id)
            assert _started(events) == ["a0", "a1", "a2"]  # zero overshoot: no step of batch 1 started

            # The same chunk delivered again (a worker died before acknowledging it) runs nothing twice.
            await fanout.run_chunk(env, job_id, sent[0], dispatch, run_later)
            assert len(await store.events(job_id)) == len(events)

            # With retries left, a transient failure leaves the chunk as a delayed single step.
            request = JobRequest.model_validate({
                "action": "pool.recycle", "target": {"agents": ["a4", "a5"]}, "params": {"name": "p"},
                "strategy": {"retries": 1, "retry_delay": 0.1}})
            again = await jobs.create_job(store, settings, request)
            sent.clear()
            await rollout.advance(store, again, dispatch)
            await fanout.run_chunk(env, again, sent[0], dispatch, run_later)
            assert sorted(later) == ["a4", "a5"]
            assert {r["status"] for r in (await jobs.job_view(store, again))["results"]} == {"retrying"}
        finally:
            await store.clear()


def test_chunks_split_a_batch_by_the_parallelism() -> None:
    # Chunks of about 2 steps, the parallelism (default: the chunk size) shared between them.
    assert fanout.chunks(["a", "b", "c", "d", "e"], 2) == [(["a", "b"], 1), (["c", "d", "e"], 1)]
    assert fanout.chunks(["a", "b", "c", "d", "e"], 2, 3) == [(["a"], 1), (["b", "c"], 1), (["d", "e"], 1)]
