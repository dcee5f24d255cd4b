"""Security review: a service reads an agent's answer up to a limit, then fails the step (no unbounded read)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from controller.auth.operators import SYSTEM
from controller.services.agent_client import AgentClient, PermanentError
from tests.controller.conftest import free_port

LIMIT = 64 * 1024


@pytest.fixture
async def agent_url() -> AsyncIterator[str]:
    """A real HTTP server answering small, huge (Content-Length) and endless chunked bodies."""
    async def small(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (LIMIT * 4))

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):  # 4 MiB unless the client hangs up first
            await response.write(b"y" * LIMIT)
        return response

    app = web.Application()
    app.router.add_get("/api/small", small)
    app.router.add_get("/api/huge", huge)
    app.router.add_get("/api/endless", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_answers_over_the_limit_fail_the_step(agent_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = AgentClient(session, agent_url, "k", "web1", serial="", operator=SYSTEM)
        client.answer_limit = LIMIT
        assert await client.call("GET", "/api/small") == (200, {"ok": True})
        for path in ("/api/huge", "/api/endless"):
            with pytest.raises(PermanentError, match="limit"):
                await client.call("GET", path)
