"""The agent with the `iis` backend against a real IIS: create a pool and a site through the API, check
them with appcmd, serve a request, recycle, read the counters, and remove both (opt-in, Windows only).

Run on a disposable Windows Server (the GitHub windows-2022 runner, see .github/workflows/windows.yml)
with `IISFLEET_WINDOWS_E2E=1 pytest tests/windows`. Everywhere else every test is collected and skipped
with the reason from conftest.skip_reason().
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.appcmd import parse_pools, parse_sites, parse_workers
from agent.hosting.iis.codepage import decode
from agent.settings import default_settings
from tests.e2e.agent_process import AgentProcess, create_key, free_port, start_agent
from tests.windows.conftest import APPCMD, skip_reason

REASON = skip_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.skipif(REASON is not None, reason=REASON or "")]
ADDRESS = "127.0.0.1"


def appcmd(*args: str) -> str:
    """Run the real appcmd.exe (raises when it fails) and return its decoded output."""
    done = subprocess.run([str(APPCMD), *args], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, f"appcmd {' '.join(args)}: {decode(done.stdout)} {decode(done.stderr)}"
    return decode(done.stdout)


async def eventually(check: Any, limit: float = 60.0) -> Any:
    """Poll a sync or async predicate until it returns something truthy (bounded)."""
    async with asyncio.timeout(limit):
        while True:
            found = check()
            found = await found if asyncio.iscoroutine(found) else found
            if found:
                return found
            await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, str, Path]]:
    """An agent on IIS's applicationHost.config, content under inetpub (readable by IIS_IUSRS)."""
    state = tmp_path_factory.mktemp("windows") / "state"
    state.mkdir()
    wwwroot = Path(os.environ.get("SystemDrive", "C:") + "\\") / "inetpub" / "wwwroot"
    www = wwwroot / f"iisfleet-e2e-{uuid.uuid4().hex[:8]}"
    www.mkdir(parents=True)
    settings = default_settings(state)
    settings["security"]["require_windows_authentication"] = False  # access tokens identify the test
    settings["iisfleet"] = {"host_backend": "iis"}
    settings["files"]["locations"].append({"alias": "e2e", "path": str(www), "claims": ["read", "write"]})
    (state / "appsettings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    token = create_key(state)
    proc = start_agent(state, ADDRESS)
    try:
        yield proc, token, www
    finally:
        proc.stop()
        shutil.rmtree(www, ignore_errors=True)
        log = state.parent / f"agent-{proc.port}.log"
        if log.exists():
            print(log.read_text(encoding="utf-8", errors="replace")[-4000:])  # shown by pytest on failure


@pytest.fixture
async def api(agent: tuple[AgentProcess, str, Path]) -> AsyncIterator[tuple[aiohttp.ClientSession, str, Path]]:
    """A token-carrying client of the agent."""
    proc, token, www = agent
    headers = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    connector = aiohttp.TCPConnector(ssl=proc.ssl_context())
    async with aiohttp.ClientSession(proc.url, headers=headers, connector=connector) as session:
        yield session, proc.url, www


async def call(session: aiohttp.ClientSession, method: str, path: str, status: int, **kw: Any) -> Any:
    async with session.request(method, path, **kw) as resp:
        body = await resp.text()
        assert resp.status == status, f"{method} {path}: {resp.status} {body}"
        return json.loads(body) if body and resp.content_type.endswith("json") else body


# Whole listings filtered here: appcmd fails (exit 1168) when a filter matches nothing.
def pool_state(name: str) -> RuntimeStatus | None:
    return next((p.state for p in parse_pools(appcmd("list", "apppool", "/xml")) if p.name == name), None)


def site_state(name: str) -> RuntimeStatus | None:
    return next((s.state for s in parse_sites(appcmd("list", "site", "/xml")) if s.name == name), None)


def worker_pids(pool: str) -> set[int]:
    return {w.pid for w in parse_workers(appcmd("list", "wp", "/xml")) if w.pool == pool}


async def serves(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as plain, plain.get(url) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, OSError):
        return False


async def test_site_and_pool_lifecycle_on_real_iis(api: tuple[aiohttp.ClientSession, str, Path]) -> None:
    session, _url, www = api
    name = f"iisfleet-e2e-{uuid.uuid4().hex[:8]}"
    (www / "index.html").write_text("hello from IIS", encoding="utf-8")
    port = free_port(ADDRESS)
    pool = site = None
    try:
        pool = await call(session, "POST", "/api/webserver/application-pools", 201, json={"name": name})
        site = await call(session, "POST", "/api/webserver/websites", 201, json={
            "name": name, "physical_path": str(www), "application_pool": {"id": pool["id"]},
            "bindings": [{"protocol": "http", "ip_address": "*", "port": port, "hostname": ""}]})  # fmt: skip
        # WAS picked the new objects up from applicationHost.config, as appcmd (not our cache) says.
        assert await eventually(lambda: pool_state(name) == RuntimeStatus.STARTED)
        assert await eventually(lambda: site_state(name) == RuntimeStatus.STARTED)
        assert await eventually(lambda: serves(f"http://{ADDRESS}:{port}/index.html"))
        before = await eventually(lambda: worker_pids(name))

        # Recycle through the API: WAS replaces the worker process.
        pool_path = f"/api/webserver/application-pools/{pool['id']}"
        await call(session, "PATCH", pool_path, 200, json={"status": "recycling"})
        assert await serves(f"http://{ADDRESS}:{port}/index.html")
        assert await eventually(lambda: (pids := worker_pids(name)) and not pids & before)

        # Stop and start the site through the API; appcmd agrees.
        await call(session, "PATCH", f"/api/webserver/websites/{site['id']}", 200, json={"status": "stopped"})
        assert site_state(name) == RuntimeStatus.STOPPED
        await call(session, "PATCH", f"/api/webserver/websites/{site['id']}", 200, json={"status": "started"})
        assert site_state(name) == RuntimeStatus.STARTED

        # Counters (typeperf, through the Perflib index) count the requests sent.
        for _ in range(3):
            assert await serves(f"http://{ADDRESS}:{port}/index.html")
        links = (await call(session, "GET", f"/api/webserver/websites/{site['id']}", 200))["_links"]

        async def counted() -> bool:
            snapshot = await call(session, "GET", links["monitoring"]["href"], 200)
            return bool(snapshot["requests"]["total"] >= 3 and snapshot["network"]["total_bytes_sent"] > 0)

        assert await eventually(counted)
    finally:
        if site is not None:
            await call(session, "DELETE", f"/api/webserver/websites/{site['id']}", 204)
        if pool is not None:
            await call(session, "DELETE", f"/api/webserver/application-pools/{pool['id']}", 204)
    # Gone from applicationHost.config, so gone from WAS too.
    assert await eventually(lambda: site_state(name) is None and pool_state(name) is None)
