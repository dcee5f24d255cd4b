"""Every route answers with one trailing slash too (ASP.NET Core routing ignores one; the web manager sends it)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from agent.api.routes import ROUTES
from tests.conftest import ClientFactory


async def test_every_route_resolves_with_a_trailing_slash(agent_app: web.Application) -> None:
    methods = 0
    for route in ROUTES:
        path = re.sub(r"{[^}]+}", "x", route.path)
        for method in (route.method, "HEAD") if route.method == "GET" else (route.method,):
            bare = await agent_app.router.resolve(make_mocked_request(method, path, app=agent_app))
            slashed = await agent_app.router.resolve(make_mocked_request(method, path + "/", app=agent_app))
            assert slashed.http_exception is None, f"{method} {path}/ is not routed"
            assert slashed.handler is bare.handler, f"{method} {path}/ reaches another handler than {path}"
            methods += 1
    assert methods > 200
    two = await agent_app.router.resolve(make_mocked_request("GET", "/api/webserver//", app=agent_app))
    assert two.http_exception is not None  # one optional slash, not any number


async def test_trailing_slash_over_http(aiohttp_client: ClientFactory, agent_app: web.Application,
                                        token: str) -> None:  # fmt: skip
    client: TestClient[Any, Any] = await aiohttp_client(agent_app)
    auth = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    head = await client.head("/api/certificates/", headers=auth)  # the web manager's range-support probe
    assert head.status == 200 and await head.read() == b""
    assert head.headers["Accept-Ranges"] == "certificates" and int(head.headers["X-Total-Count"]) >= 1
    assert (await client.get("/api/webserver/websites/", headers=auth)).status == 200
    assert (await client.get("/api/webserver/websites/")).status == 403  # the slash form is authenticated too
    installed = await client.post("/api/webserver/authorization/", json={}, headers=auth)
    assert installed.status in (201, 409), await installed.text()
    origin = "https://manage.example"
    preflight = await client.options("/api/webserver/authorization/", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "access-token,content-type"})  # fmt: skip
    assert preflight.status in (200, 204)
    assert "POST" in preflight.headers.get("Allow", preflight.headers.get("Access-Control-Allow-Methods", ""))
