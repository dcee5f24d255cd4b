"""Security review: a join-token holder cannot get a certificate that agents (or operators) take for the controller."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.controller_identity import ControllerConnector, NotTheController
from agent.enrollment import client_context, new_identity
from tests.e2e.agent_process import free_port
from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet
from tests.e2e.test_controller_fleet import _local_redis

pytestmark = pytest.mark.e2e


def _join(fleet: JobsFleet) -> str:
    return fleet.cli("controller", "join-token", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                     "--labels", "env=e2e", "--ttl", "10m")


def test_impostor_certificate_is_refused_on_both_sides(tmp_path: Path) -> None:
    fleet = JobsFleet(tmp_path, _local_redis())
    try:
        fleet.start_controller()
        join = _join(fleet)
        key_pem, csr = new_identity("evil")
        # The controller's certificate holds 127.0.0.1 and localhost: neither name nor URL host may take them.
        for name, url in (("evil", "https://127.0.0.1:1"), ("localhost", "https://127.0.0.5:1"),
                          ("evil", "https://LOCALHOST:1")):
            body = {"token": join, "name": name, "url": url, "csr": csr if name == "evil" else new_identity(name)[1],
                    "api_key": "x" * 32}
            status, answer = fleet.call("POST", "/api/enroll", auth=False, body=body)
            assert status == 403, answer
        # The join token was not used up by those refusals: an ordinary host still enrolls.
        status, body = fleet.call("POST", "/api/enroll", auth=False, body={
            "token": join, "name": "evil", "url": "https://127.0.0.5:1", "csr": csr, "api_key": "x" * 32})
        assert status == 201, body
        (tmp_path / "evil.pem").write_bytes(body["certificate"].encode() + key_pem)
        asyncio.run(_agent_refuses_impostor(tmp_path / "evil.pem", body["ca"], fleet.url))
    finally:
        tear_down(fleet)


async def _agent_refuses_impostor(identity: Path, ca: str, controller_url: str) -> None:
    """A CA-signed agent certificate serving as "the controller" gets nothing from an agent's connector."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(await request.text())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/enroll", record)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(identity)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port("127.0.0.5")
    await web.TCPSite(runner, "127.0.0.5", port, ssl_context=server).start()
    try:
        async with aiohttp.ClientSession(connector=ControllerConnector(ssl=client_context(ca))) as session:
            with pytest.raises(NotTheController):
                await session.post(f"https://127.0.0.5:{port}/api/enroll", data="the api key")
            async with session.get(f"{controller_url}/api/enroll/ca") as real:  # the real controller passes
                assert real.status == 200
    finally:
        await runner.cleanup()
    assert seen == []
