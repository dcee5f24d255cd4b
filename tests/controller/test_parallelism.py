"""A job's `parallelism` bounds the steps in flight, across all the chunk tasks of a batch.

Stand-in agents (real enrollment, mTLS) answer the read after a pause and count the requests they are
answering at once; the chunks run through the real worker environment, all at the same time as separate
Celery tasks on several worker threads could.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from agent.controller_link import server_context
from agent.enrollment import enroll, gather_facts
from controller.services import fanout, jobs
from controller.services.job_models import JobRequest
from controller.services.rollout import advance
from controller.services.steps import worker_env
from tests.controller.conftest import ControllerUnderTest, free_port
from tests.controller.standin import API_KEY, require_key

PAUSE = 0.2
AGENTS = 6


class InFlight:
    """How many requests the stand-ins are answering now, and the most at once."""

    def __init__(self) -> None:
        self.now = self.most = 0

    async def websites(self, request: web.Request) -> web.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(PAUSE)
        finally:
            self.now -= 1
        return web.json_response({"websites": []})


@pytest.fixture
async def fleet(controller: ControllerUnderTest, tmp_path: Path) -> AsyncIterator[tuple[InFlight, list[str]]]:
    counter, runners, ids = InFlight(), [], []
    try:
        for index in range(AGENTS):
            address = f"127.0.0.{index + 2}"  # the controller refuses agent certificates for its own names
            port = free_port(address)
            enrollment = await enroll(tmp_path / f"s{index}", controller.url, await controller.join_token(),
                                      name=f"s{index}", url=f"https://{address}:{port}", api_key=API_KEY,
                                      facts=gather_facts())
            app = web.Application(middlewares=[require_key])
            app.router.add_get("/api/webserver/websites", counter.websites)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, address, port, ssl_context=server_context(enrollment)).start()
            runners.append(runner)
            ids.append(enrollment.agent_id)
        yield counter, ids
    finally:
        for runner in runners:
            await runner.cleanup()


@pytest.mark.parametrize(("parallelism", "most"), [(1, 1), (3, 3), (None, 4)])
async def test_parallelism_bounds_the_steps_in_flight(
    controller: ControllerUnderTest, fleet: tuple[InFlight, list[str]], parallelism: int | None, most: int
) -> None:
    counter, ids = fleet
    # Chunks of 4 steps: without a job's own value the controller's job_parallelism (4) is the bound.
    settings = replace(controller.settings, job_parallelism=4)
    strategy = {"retries": 0} if parallelism is None else {"retries": 0, "parallelism": parallelism}
    request = JobRequest.model_validate({"action": "iis.request", "target": {"agents": ids},
                                         "params": {"method": "GET", "path": "/api/webserver/websites"},
                                         "strategy": strategy})
    async with worker_env(settings, str(settings.redis_url)) as env:
        job_id = await jobs.create_job(env.store, settings, request)
        job, *_rest = await env.store.step_state(job_id, ids[0])
        assert job["status"] == "queued" and "agents" not in job  # a step's read does not grow with the job
        plans: list[list[tuple[list[str], int]]] = []

        async def later(job: str, agent: str, delay: float) -> None:
            raise AssertionError(f"step {agent} should not retry")

        async def dispatch(job: str, agents: list[str], value: int | None) -> None:
            plan = fanout.chunks(agents, settings.job_parallelism, value)
            plans.append(plan)
            await asyncio.gather(*(fanout.run_chunk(env, job, part, dispatch, later, limit) for part, limit in plan))

        started = time.monotonic()
        await advance(env.store, job_id, dispatch)
        elapsed = time.monotonic() - started
        view = await jobs.job_view(env.store, job_id)
    assert view["status"] == "succeeded", view
    assert counter.most == most, (plans, counter.most)
    assert sum(limit for _part, limit in plans[0]) == most and len(plans[0]) == min(2, most)
    rounds = -(-AGENTS // most)  # the reads can only overlap `most` at a time
    assert elapsed >= rounds * PAUSE * 0.95, elapsed
    assert all(-(-len(part) // limit) == rounds for part, limit in plans[0])  # the chunks end together


def test_chunks_share_the_parallelism() -> None:
    ids = [f"a{n}" for n in range(10)]
    assert fanout.chunks(ids, 4) == [(ids[0:5], 2), (ids[5:7], 1), (ids[7:10], 1)]
    assert fanout.chunks(ids, 4, 100) == [(ids[0:3], 34), (ids[3:6], 33), (ids[6:10], 33)]
    assert fanout.chunks(ids, 4, 1) == [(ids, 1)]
    assert fanout.chunks(ids, 4, 2) == [(ids[0:5], 1), (ids[5:10], 1)]
    assert fanout.chunks(ids + ["a0"], 100, 5) == [(ids, 5)]  # a repeated id runs once
    assert fanout.chunks([], 100) == []


def test_cli_sends_the_parallelism_with_the_batch_size() -> None:
    from iisfleet.cli import build_parser
    from iisfleet.client.commands import _job_body

    args = build_parser().parse_args(["pools", "recycle", "shop", "--batch-size", "10", "--parallelism", "5"])
    assert _job_body(args, "pool.recycle", {"name": "shop"})["strategy"] == {"batch_size": 10, "parallelism": 5}
    args = build_parser().parse_args(["sites", "stop", "shop"])
    assert "parallelism" not in _job_body(args, "site.stop", {"name": "shop"})["strategy"]


def test_openapi_publishes_the_job_request_with_its_parallelism() -> None:
    from controller.api.openapi import document
    from controller.api.routes import ROUTES

    doc = document(ROUTES)
    body = doc["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/JobRequest"}
    field = doc["components"]["schemas"]["Strategy"]["properties"]["parallelism"]
    assert {"minimum": 1, "maximum": 1000, "type": "integer"} in field["anyOf"]
    assert "at the same time" in field["description"]
