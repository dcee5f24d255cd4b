"""Runtime APIs against a real agent: worker processes, requests in flight, monitoring, /metrics, the
service controller and https bindings with store certificates, all with real traffic on 127.0.0.x."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.hosting.support import free_port, loopback
from tests.e2e.agent_process import AgentProcess, create_key, start_agent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, str]]:
    """One agent for the module, with a token."""
    state = tmp_path_factory.mktemp("monitoring") / "state"
    state.mkdir()
    token = create_key(state)
    proc = start_agent(state, loopback())
    try:
        yield proc, token
    finally:
        proc.stop()


class Api:
    """A token-carrying HAL client of the agent, plus the site it created for the test."""

    def __init__(self, agent: AgentProcess, session: aiohttp.ClientSession) -> None:
        self.agent = agent
        self.session = session
        self.site: dict[str, Any] = {}
        self.pool: dict[str, Any] = {}
        self.port = 0

    async def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        async with self.session.request(method, self.agent.url + path, **kw) as resp:
            assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
            return await resp.json() if resp.content_type.endswith("json") else await resp.text()

    @property
    def base(self) -> str:
        return f"http://{self.agent.address}:{self.port}"


@pytest.fixture
async def api(agent: tuple[AgentProcess, str], tmp_path: Path) -> AsyncIterator[Api]:
    """A site in its own pool on a free port, serving index.html and a 64 MB file."""
    proc, token = agent
    headers = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=proc.ssl_context())) as s:
        api = Api(proc, s)
        name = tmp_path.name[-20:]
        content = proc.state_dir / "inetpub" / "sites" / name
        content.mkdir(parents=True)
        (content / "index.html").write_text("hello")
        os.truncate(_touch(content / "big.bin"), 64 << 20)  # sparse: instant to make
        api.port = free_port(proc.address)
        api.pool = await api.call("POST", "/api/webserver/application-pools", 201, json={"name": name})
        api.site = await api.call("POST", "/api/webserver/websites", 201, json={
            "name": name, "physical_path": str(content), "application_pool": {"id": api.pool["id"]},
            "bindings": [{"protocol": "http", "ip_address": "*", "port": api.port, "hostname": ""}]})  # fmt: skip
        await until(lambda: serves(api.base + "/"))
        try:
            yield api
        finally:
            await api.call("DELETE", f"/api/webserver/websites/{api.site['id']}", 204)
            await api.call("DELETE", f"/api/webserver/application-pools/{api.pool['id']}", 204)


def _touch(path: Path) -> Path:
    path.touch()
    return path


async def serves(url: str, **kw: Any) -> bool:
    try:
        async with aiohttp.ClientSession() as plain, plain.get(url, **kw) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, OSError):
        return False


async def until(check: Callable[[], Awaitable[bool]], limit: float = 15.0) -> None:
    """Poll an async predicate until it holds (bounded)."""
    async with asyncio.timeout(limit):
        while not await check():  # noqa: ASYNC110 - polling state owned by another process
            await asyncio.sleep(0.1)


async def _workers(api: Api) -> list[dict[str, Any]]:
    pool = await api.call("GET", f"/api/webserver/application-pools/{api.pool['id']}")
    return list((await api.call("GET", pool["_links"]["worker_processes"]["href"]))["worker_processes"])


async def test_worker_processes_live_and_replaced(api: Api) -> None:
    assert await serves(api.base + "/")
    [ref] = await _workers(api)
    worker = await api.call("GET", ref["_links"]["self"]["href"])
    assert worker["process_id"] == ref["process_id"] and worker["status"] == "running"
    assert worker["working_set"] > 0 and worker["private_memory_size"] > 0 and worker["virtual_memory_size"] > 0
    assert worker["application_pool"]["id"] == api.pool["id"] and worker["total_processor_time"].startswith("00:")
    await api.call("DELETE", ref["_links"]["self"]["href"], 204)

    async def replaced() -> bool:
        pids = [w["process_id"] for w in await _workers(api)] if await serves(api.base + "/") else []
        return bool(pids) and ref["process_id"] not in pids

    await until(replaced)
    await api.call("GET", ref["_links"]["self"]["href"], 404)


async def test_request_in_flight_is_listed(api: Api) -> None:
    reader, writer = await asyncio.open_connection(api.agent.address, api.port)
    try:
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read: the response stalls
        await writer.drain()
        path = "/api/webserver/http-request-monitor/requests?time_elapsed=0"

        async def listed() -> bool:
            return any(r["url"] == "/big.bin" for r in (await api.call("GET", path))["requests"])

        await until(listed)
        [ref] = [r for r in (await api.call("GET", path))["requests"] if r["url"] == "/big.bin"]
        item = await api.call("GET", ref["_links"]["self"]["href"])
        assert item["method"] == "GET" and item["website"]["id"] == api.site["id"]
        assert item["client_ip_address"].startswith("127.")
        [worker] = await _workers(api)
        assert item["worker_process"]["process_id"] == worker["process_id"]
        by_worker = await api.call("GET", f"{path}&wp.id={worker['id']}")
        assert [r["id"] for r in by_worker["requests"]] == [ref["id"]]
        await asyncio.sleep(max(0.0, 1.1 - item["time_elapsed"] / 1000))
        default = await api.call("GET", "/api/webserver/http-request-monitor/requests")  # older than 1 s only
        assert ref["id"] in [r["id"] for r in default["requests"]]
    finally:
        writer.close()
    await until(lambda: _gone(api, ref["_links"]["self"]["href"]))


async def _gone(api: Api, href: str) -> bool:
    async with api.session.get(api.agent.url + href) as resp:
        return resp.status == 404


async def test_monitoring_counts_the_requests_sent(api: Api) -> None:
    site = await api.call("GET", f"/api/webserver/websites/{api.site['id']}")
    before = await api.call("GET", site["_links"]["monitoring"]["href"])
    server_before = await api.call("GET", "/api/webserver/monitoring")
    sent = 25
    async with aiohttp.ClientSession() as plain:
        for _ in range(sent):
            async with plain.get(api.base + "/") as resp:
                assert resp.status == 200 and await resp.text() == "hello"
    after = await api.call("GET", site["_links"]["monitoring"]["href"])
    assert after["requests"]["total"] == before["requests"]["total"] + sent
    assert after["network"]["total_bytes_sent"] > before["network"]["total_bytes_sent"]
    assert after["network"]["total_connection_attempts"] >= 1 and after["uptime"] >= 0
    assert after["cpu"]["processes"] == 1 and after["memory"]["private_working_set"] > 0
    server = await api.call("GET", "/api/webserver/monitoring")
    assert server["requests"]["total"] >= server_before["requests"]["total"] + sent
    assert server["cpu"]["threads"] > 0 and server["memory"]["installed"] > 0
    pool = await api.call("GET", f"/api/webserver/application-pools/{api.pool['id']}")
    pool_snapshot = await api.call("GET", pool["_links"]["monitoring"]["href"])
    assert pool_snapshot["requests"]["total"] >= sent and pool_snapshot["cpu"]["processes"] == 1

    async def busy() -> bool:  # rates come from samples at least a second apart
        async with aiohttp.ClientSession() as plain, plain.get(api.base + "/") as resp:
            await resp.read()
        return bool((await api.call("GET", site["_links"]["monitoring"]["href"]))["requests"]["per_sec"] > 0)

    await until(busy)


async def test_metrics_parse_with_one_hot_pool_states(api: Api) -> None:
    assert await serves(api.base + "/")
    async with aiohttp.ClientSession() as plain:
        for method in ("POST", "PATCH"):  # PATCH is no verb IIS counts by name: it counts as "other"
            async with plain.request(method, api.base + "/") as resp:
                await resp.read()
    token = api.session.headers["Access-Token"].split()[1]
    async with aiohttp.ClientSession() as plain, plain.get(
        api.agent.url + "/metrics", ssl=api.agent.ssl_context(), headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200
        families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    states = families["windows_iis_current_application_pool_state"].samples
    pools = {s.labels["app"] for s in states}
    assert api.pool["name"] in pools and "DefaultAppPool" in pools
    for pool in pools:
        assert sum(s.value for s in states if s.labels["app"] == pool) == 1
    running = [s for s in states if s.labels["app"] == api.pool["name"] and s.value == 1]
    assert running[0].labels["state"] == "Running"
    requests = {(s.labels["site"], s.labels["method"]): s.value for s in families["windows_iis_requests"].samples}
    assert requests[(api.site["name"], "GET")] >= 1  # counted per verb, as IIS does
    assert requests[(api.site["name"], "POST")] >= 1 and requests[(api.site["name"], "other")] >= 1
    assert any(s.labels["app"] == api.pool["name"] for s in families["windows_iis_worker_working_set_bytes"].samples)


async def test_https_binding_with_a_store_certificate(api: Api) -> None:
    listed = await api.call("GET", f"/api/certificates?intended_purpose={SERVER_AUTH}")
    cert = next(c for c in listed["certificates"] if c["subject"] == "CN=localhost")
    tls_port = free_port(api.agent.address)
    bindings = [{"protocol": "https", "ip_address": "*", "port": tls_port, "hostname": "", "certificate": cert}]
    site = await api.call("PATCH", f"/api/webserver/websites/{api.site['id']}", json={"bindings": bindings})
    assert site["bindings"][0]["certificate"]["thumbprint"] == cert["thumbprint"]
    pem = (api.agent.state_dir / "certificates" / "My" / f"{cert['thumbprint']}.pem").read_bytes()
    ca = x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.PEM).decode()
    context = ssl.create_default_context(cadata=ca)  # verification on: the store's certificate is the CA
    url = f"https://{api.agent.address}:{tls_port}/"
    await until(lambda: serves(url, ssl=context, server_hostname="localhost"))


async def test_service_controller_stops_and_starts_the_web_server(api: Api) -> None:
    path = "/api/webserver/service-controller"
    assert (await api.call("GET", path))["status"] == "started"
    stopped = await api.call("PATCH", path, json={"status": "stopped"})
    assert stopped["status"] in ("stopped", "stopping")
    await until(lambda: _status(api, "stopped"))
    with pytest.raises(OSError), socket.create_connection((api.agent.address, api.port), timeout=2):
        pass
    assert (await api.call("GET", "/api/webserver/info"))["status"] == "stopped"
    await api.call("PATCH", path, json={"status": "started"})
    await until(lambda: _status(api, "started"))
    await until(lambda: serves(api.base + "/"))


async def _status(api: Api, wanted: str) -> bool:
    return bool((await api.call("GET", "/api/webserver/service-controller"))["status"] == wanted)
