"""A tiny stand-in for the agent: enrolls with the real enrollment code and serves a few IIS API routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from agent.controller_link import server_context
from agent.enrollment import Enrollment, enroll, gather_facts

API_KEY = "standin-api-key-0123456789abcdef"


async def websites(request: web.Request) -> web.Response:
    """GET /api/webserver/websites."""
    return web.json_response({"websites": [{"name": "Default Web Site", "id": "1", "status": "started"}]})


async def echo(request: web.Request) -> web.StreamResponse:
    """Any method: stream the body back with what the agent saw."""
    response = web.StreamResponse(
        headers={
            "X-Method": request.method,
            "X-Query": request.rel_url.raw_query_string,
            "X-Client-Cert": "yes" if request.transport and _peer(request) else "no",
            "X-Operator": request.headers.get("X-IISFleet-Operator", ""),
        }
    )
    await response.prepare(request)
    async for chunk in request.content.iter_chunked(65536):
        await response.write(chunk)
    await response.write_eof()
    return response


def _peer(request: web.Request) -> bool:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    return bool(ssl_object and ssl_object.getpeercert(binary_form=True))


@web.middleware
async def require_key(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The agent's Access-Token check, reduced to one key."""
    if request.headers.get("Access-Token") != f"Bearer {API_KEY}":
        return web.json_response({"title": "Unauthorized", "status": 403}, status=403)
    return await handler(request)


@dataclass
class StandIn:
    """An enrolled stand-in agent and its runner."""

    enrollment: Enrollment
    runner: web.AppRunner

    async def stop(self) -> None:
        """Stop serving."""
        await self.runner.cleanup()


async def start_standin(
    state_dir: Path, controller_url: str, join_token: str, name: str, address: str, port: int
) -> StandIn:
    """Enroll (real code) and serve over HTTPS with the issued certificate."""
    enrollment = await enroll(
        state_dir,
        controller_url,
        join_token,
        name=name,
        url=f"https://{address}:{port}",
        api_key=API_KEY,
        facts=gather_facts(),
    )
    app = web.Application(middlewares=[require_key])
    app.router.add_get("/api/webserver/websites", websites)
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port, ssl_context=server_context(enrollment)).start()
    return StandIn(enrollment, runner)
