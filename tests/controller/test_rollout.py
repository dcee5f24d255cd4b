"""Rollout decisions called directly over a real Redis: batches in order, max_failures, the reaper."""

from __future__ import annotations

import json

from controller.services import jobs, rollout
from controller.services.job_models import JobRequest
from tests.controller.conftest import ControllerUnderTest


async def _setup(controller: ControllerUnderTest, agents: int, strategy: dict[str, object]) -> str:
    for n in range(agents):
        await controller.store.put_agent(f"agent{n}", {"name": f"web{n}", "url": "https://x:1", "labels": "{}"})
    request = JobRequest.model_validate({"action": "pool.recycle", "target": {"labels": {}},
                                         "params": {"name": "p"}, "strategy": strategy})
    return await jobs.create_job(controller.store, controller.settings, request)


async def _finish_steps(controller: ControllerUnderTest, job_id: str, outcome: dict[str, str]) -> None:
    results = await controller.store.job_results(job_id)
    await controller.store.set_results(
        job_id, {a: json.dumps({**json.loads(results[a]), "status": s}) for a, s in outcome.items()}
    )


async def test_batches_run_in_order_and_stop_at_max_failures(controller: ControllerUnderTest) -> None:
    job_id = await _setup(controller, 5, {"batch_size": 2, "max_failures": 1})
    sent: list[list[str]] = []

    async def dispatch(job: str, agents: list[str], parallelism: int | None = None) -> None:
        sent.append(agents)

    await rollout.advance(controller.store, job_id, dispatch)
    await rollout.advance(controller.store, job_id, dispatch)  # idempotent: nothing new while batch 0 runs
    assert sent == [["agent0", "agent1"]]
    await _finish_steps(controller, job_id, {"agent0": "succeeded", "agent1": "succeeded"})
    await rollout.advance(controller.store, job_id, dispatch)
    assert sent[-1] == ["agent2", "agent3"]
    await _finish_steps(controller, job_id, {"agent2": "failed", "agent3": "succeeded"})
    await rollout.advance(controller.store, job_id, dispatch)
    view = await jobs.job_view(controller.store, job_id)
    assert len(sent) == 2 and view["status"] == "failed" and "max_failures" in view["error"]
    assert view["counts"] == {"succeeded": 3, "failed": 1, "skipped": 1}
    assert await controller.store.active_jobs() == []


async def test_all_succeeded_and_stalled_jobs(controller: ControllerUnderTest) -> None:
    async def dispatch(job: str, agents: list[str], parallelism: int | None = None) -> None:
        return None

    job_id = await _setup(controller, 2, {})
    await rollout.advance(controller.store, job_id, dispatch)
    await _finish_steps(controller, job_id, {"agent0": "succeeded", "agent1": "succeeded"})
    await rollout.advance(controller.store, job_id, dispatch)
    assert (await jobs.job_view(controller.store, job_id))["status"] == "succeeded"

    stalled = await _setup(controller, 2, {"stall_timeout": 5})
    await rollout.advance(controller.store, stalled, dispatch)
    assert await rollout.reap(controller.store, 600) == []
    await controller.store.update_job(stalled, {"touched": "1"})
    assert await rollout.reap(controller.store, 600) == [stalled]
    view = await jobs.job_view(controller.store, stalled)
    assert view["status"] == "failed" and view["error"].startswith("stalled")
    assert {r["status"] for r in view["results"]} == {"failed"}
