"""The gateway: forwarded over verified mTLS with the agent's API key, streamed both ways, audited."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from agent.security.tls import create_self_signed
from tests.controller.conftest import ControllerUnderTest, free_port
from tests.controller.standin import StandIn, start_standin


async def test_gateway_get_reaches_agent(controller: ControllerUnderTest, standin: StandIn) -> None:
    url = f"{controller.url}/api/agents/{standin.enrollment.agent_id}/iis/api/webserver/websites"
    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        async with http.get(url, ssl=controller.client_ssl()) as r:
            assert r.status == 200
            assert (await r.json())["websites"][0]["name"] == "Default Web Site"
        async with http.get(f"{controller.url}/api/audit", ssl=controller.client_ssl()) as r:
            entry = (await r.json())["entries"][0]
    assert entry["operator"] == controller.token.split(".")[0]
    assert (entry["method"], entry["status"], entry["agent"]) == ("GET", "200", standin.enrollment.agent_id)
    assert entry["path"].endswith("/iis/api/webserver/websites")


async def test_gateway_streams_bodies_and_query(controller: ControllerUnderTest, standin: StandIn) -> None:
    base = f"{controller.url}/api/agents/{standin.enrollment.agent_id}/iis/echo/x"
    payload = os.urandom(3 * 1024 * 1024)

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            async with http.request(
                method, base, params={"a": "1", "b": "x y/%"}, data=chunks(), ssl=controller.client_ssl()
            ) as r:
                assert r.status == 200
                assert r.headers["X-Method"] == method
                assert r.headers["X-Query"] == "a=1&b=x+y/%25"
                assert r.headers["X-Client-Cert"] == "yes"  # the controller presented its certificate
                assert await r.read() == payload


async def test_revoked_agent_is_not_reachable(controller: ControllerUnderTest, standin: StandIn) -> None:
    agent = f"{controller.url}/api/agents/{standin.enrollment.agent_id}"
    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        async with http.delete(agent, ssl=controller.client_ssl()) as r:
            assert r.status == 204
        async with http.get(f"{agent}/iis/api/webserver/websites", ssl=controller.client_ssl()) as r:
            assert r.status == 404


async def test_gateway_refuses_agent_not_signed_by_ca(controller: ControllerUnderTest, tmp_path: Path) -> None:
    """An impostor at the agent's address with a self-signed certificate gets no request (502)."""
    from aiohttp import web

    from tests.controller.standin import websites

    port = free_port("127.0.0.3")
    token = await controller.join_token()
    real = await start_standin(tmp_path / "real", controller.url, token, "web9", "127.0.0.3", port)
    await real.stop()
    create_self_signed(tmp_path / "i.crt", tmp_path / "i.key", ["127.0.0.3"])
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "i.crt", tmp_path / "i.key")
    app = web.Application()
    app.router.add_get("/api/webserver/websites", websites)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.3", port, ssl_context=context).start()
    try:
        url = f"{controller.url}/api/agents/{real.enrollment.agent_id}/iis/api/webserver/websites"
        async with aiohttp.ClientSession(headers=controller.auth()) as http:
            async with http.get(url, ssl=controller.client_ssl()) as r:
                assert r.status == 502
                assert "TLS verification" in (await r.json())["detail"]
    finally:
        await runner.cleanup()
