"""Feature sections change what the embedded host serves: directory browsing and a custom response header."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.agent.hosting.support import free_port, loopback
from tests.e2e.agent_process import AgentProcess, create_key, start_agent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
DEADLINE = 20.0


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[AgentProcess, str]]:
    """A real agent (with its embedded host) on a fresh loopback address."""
    state = tmp_path / "state"
    state.mkdir()
    token = create_key(state)
    proc = start_agent(state, loopback())
    try:
        yield proc, token
    finally:
        proc.stop()


async def _fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str, dict[str, str]]:
    try:
        async with session.get(url, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)
    except aiohttp.ClientError:
        return 0, "", {}


async def _until(session: aiohttp.ClientSession, url: str, check: Any) -> tuple[int, str, dict[str, str]]:
    """Poll `url` until check(status, text, headers) holds (bounded)."""
    deadline = time.monotonic() + DEADLINE
    result = await _fetch(session, url)
    while not check(*result):
        assert time.monotonic() < deadline, f"{url}: last answer {result[0]} {result[1][:200]!r}"
        await asyncio.sleep(0.2)
        result = await _fetch(session, url)
    return result


async def test_directory_browsing_and_custom_header(agent: tuple[AgentProcess, str]) -> None:
    proc, token = agent
    content = proc.state_dir / "inetpub" / "sites" / "browse"
    content.mkdir(parents=True)
    (content / "listed-file.txt").write_text("x")
    port = free_port(proc.address)
    headers = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    connector = aiohttp.TCPConnector(ssl=proc.ssl_context())
    async with aiohttp.ClientSession(headers=headers, connector=connector) as api, aiohttp.ClientSession() as web:
        async with api.post(f"{proc.url}/api/webserver/websites", json={
            "name": "Browse", "physical_path": str(content),
            "bindings": [{"protocol": "http", "ip_address": "*", "port": port, "hostname": ""}]}) as resp:  # fmt: skip
            assert resp.status == 201, await resp.text()
        site_url = f"http://{proc.address}:{port}/"
        status, text, _ = await _until(web, site_url, lambda s, t, h: s in (403, 404))
        assert "listed-file.txt" not in text

        async with api.get(f"{proc.url}/api/webserver/directory-browsing", params={"scope": "Browse/"}) as resp:
            assert resp.status == 209
            browsing = await resp.json()
        async with api.patch(f"{proc.url}/api/webserver/directory-browsing/{browsing['id']}",
                             json={"enabled": True}) as resp:
            assert resp.status == 200 and (await resp.json())["enabled"] is True
        status, text, _ = await _until(web, site_url, lambda s, t, h: s == 200 and "listed-file.txt" in t)

        async with api.get(f"{proc.url}/api/webserver/http-response-headers", params={"scope": "Browse"}) as resp:
            feature = await resp.json()
        async with api.post(f"{proc.url}/api/webserver/http-response-headers/custom-headers", json={
                "name": "X-Fleet-Test", "value": "yes", "http_response_headers": feature}) as resp:
            assert resp.status == 201, await resp.text()
        _, _, seen = await _until(web, site_url, lambda s, t, h: h.get("X-Fleet-Test") == "yes")
        assert seen["X-Fleet-Test"] == "yes"


async def test_url_rewrite_inbound_rules(agent: tuple[AgentProcess, str]) -> None:
    proc, token = agent
    content = proc.state_dir / "inetpub" / "sites" / "rewrite"
    content.mkdir(parents=True)
    (content / "target.html").write_text("rewritten target")
    port = free_port(proc.address)
    headers = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    base = f"{proc.url}/api/webserver/url-rewrite"
    connector = aiohttp.TCPConnector(ssl=proc.ssl_context())
    async with aiohttp.ClientSession(headers=headers, connector=connector) as api, aiohttp.ClientSession() as web:
        async with api.post(f"{proc.url}/api/webserver/websites", json={
            "name": "Rewrite", "physical_path": str(content),
            "bindings": [{"protocol": "http", "ip_address": "*", "port": port, "hostname": ""}]}) as resp:  # fmt: skip
            assert resp.status == 201, await resp.text()
        async with api.post(base, json={}) as resp:
            assert resp.status in (201, 409), await resp.text()
        async with api.get(f"{base}/inbound", params={"scope": "Rewrite/"}) as resp:
            inbound = await resp.json()
        for rule in ({"name": "old", "pattern": "^old/(.*)$", "action": {"type": "redirect", "url": "/new/{R:1}",
                                                                          "redirect_type": "found"}},
                     {"name": "pretty", "pattern": "^pretty$", "action": {"type": "rewrite", "url": "target.html"}}):
            async with api.post(f"{base}/inbound/rules", json={**rule, "url_rewrite": inbound}) as resp:
                assert resp.status == 201, await resp.text()
        site = f"http://{proc.address}:{port}"
        _, _, seen = await _until(web, f"{site}/old/page", lambda s, t, h: s == 302)
        assert seen["Location"] == "/new/page"
        await _until(web, f"{site}/pretty", lambda s, t, h: s == 200 and "rewritten target" in t)
