"""CORS on the gateway: preflights from the configured origins, CORS headers on answers and on refusals."""

from __future__ import annotations

import aiohttp

from tests.controller.conftest import ControllerUnderTest

ORIGIN = "https://manage.iis.net"


async def _call(controller: ControllerUnderTest, method: str, path: str, headers: dict[str, str]) -> tuple[
        int, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, controller.url + path, headers=headers, ssl=controller.client_ssl()) as r:
            await r.read()
            return r.status, dict(r.headers)


async def test_preflight_is_answered_for_configured_origins_only(controller: ControllerUnderTest) -> None:
    path = "/api/agents/0123456789abcdef/iis/api/webserver/websites"
    ask = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "access-token,content-type"}
    status, headers = await _call(controller, "OPTIONS", path, {"Origin": ORIGIN, **ask})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ORIGIN and headers["Access-Control-Allow-Credentials"] == "true"
    assert "PATCH" in headers["Access-Control-Allow-Methods"] and headers["Vary"] == "Origin"
    status, headers = await _call(controller, "OPTIONS", path, {"Origin": "https://evil.example", **ask})
    assert status == 204 and "Access-Control-Allow-Origin" not in headers
    # Only gateway paths take part: the controller's own API has no CORS.
    status, headers = await _call(controller, "OPTIONS", "/api/jobs", {"Origin": ORIGIN, **ask})
    assert "Access-Control-Allow-Origin" not in headers


async def test_refusals_carry_cors_headers_so_the_client_can_read_them(controller: ControllerUnderTest) -> None:
    path = "/api/agents/0123456789abcdef/iis/api"
    status, headers = await _call(controller, "GET", path, {"Origin": ORIGIN})
    assert status in (401, 403) and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "WWW-Authenticate" in headers["Access-Control-Expose-Headers"]
    manager = {"Origin": ORIGIN, "Access-Token": f"Bearer {controller.token}"}
    status, headers = await _call(controller, "GET", path, manager)
    assert status == 404 and headers["Access-Control-Allow-Origin"] == ORIGIN  # the token worked; no such agent
    status, headers = await _call(controller, "GET", "/api/agents", manager)
    assert status in (401, 403)  # Access-Token is for gateway paths only
