"""Stand-in agents for the fan-out benchmark: enroll with the real code, serve the few routes jobs use.

Many of them run in one process, each on its own loopback address (127.0.0.2 and up), so 50 "hosts" fit on a
small machine. They answer websites, application pools (PATCH status, recycle) and worker processes the way
the agent does, with no IIS behind them. Every answer can be delayed (DELAY seconds; a recycle RECYCLE_DELAY)
to stand for a remote host and the time IIS takes.

    python bench/jobs_standin.py CONTROLLER_URL TOKENS_FILE STATE_DIR [DELAY RECYCLE_DELAY]
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.controller_link import server_context  # noqa: E402
from agent.enrollment import enroll, gather_facts  # noqa: E402

API_KEY = "bench-standin-key-0123456789abcdef"
PORT = 55541


def make_app(address: str, delay: float = 0.0, recycle_delay: float = 0.0) -> web.Application:
    """One stand-in's routes."""
    pool = {"name": "shop", "id": "p1", "status": "started"}
    site = {"name": "shop", "id": "s1", "status": "started", "physical_path": "/srv/shop",
            "bindings": [{"protocol": "http", "port": 8080, "ip_address": "*", "hostname": ""}],
            "application_pool": pool}

    async def websites(request: web.Request) -> web.Response:
        return web.json_response({"websites": [{"name": "shop", "id": "s1", "status": "started"}]})

    async def website(request: web.Request) -> web.Response:
        return web.json_response(site)

    async def pools(request: web.Request) -> web.Response:
        return web.json_response({"app_pools": [pool]})

    async def get_pool(request: web.Request) -> web.Response:
        return web.json_response(pool)

    async def patch_pool(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("status") == "recycling":
            await asyncio.sleep(max(0.0, recycle_delay - delay))
        if body.get("status") in ("started", "stopped"):
            pool["status"] = body["status"]
        return web.json_response(pool)

    async def workers(request: web.Request) -> web.Response:
        return web.json_response({"worker_processes": [{"id": "w1", "process_id": 1234}]})

    @web.middleware
    async def key(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.headers.get("Access-Token") != f"Bearer {API_KEY}":
            return web.json_response({"title": "Unauthorized", "status": 403}, status=403)
        if delay:
            await asyncio.sleep(delay)
        return await handler(request)

    app = web.Application(middlewares=[key])
    app.router.add_get("/api/webserver/websites", websites)
    app.router.add_get("/api/webserver/websites/{id}", website)
    app.router.add_get("/api/webserver/application-pools", pools)
    app.router.add_get("/api/webserver/application-pools/{id}", get_pool)
    app.router.add_patch("/api/webserver/application-pools/{id}", patch_pool)
    app.router.add_get("/api/webserver/worker-processes", workers)
    return app


async def main(controller: str, tokens: list[str], state: Path, delay: float, recycle_delay: float) -> None:
    """Enroll every stand-in, serve, print READY and wait until killed."""
    runners = []
    for index, token in enumerate(tokens):
        address = f"127.0.0.{index + 2}"
        enrollment = await enroll(state / f"s{index}", controller, token, name=f"standin{index + 1:02d}",
                                  url=f"https://{address}:{PORT}", api_key=API_KEY, facts=gather_facts())
        runner = web.AppRunner(make_app(address, delay, recycle_delay), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, PORT, ssl_context=server_context(enrollment)).start()
        runners.append(runner)
    print(json.dumps({"ready": len(runners)}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    delays = [float(value) for value in sys.argv[4:6]] + [0.0, 0.0]
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_text().split(), Path(sys.argv[3]), delays[0], delays[1]))
