"""Whole-answer cache: keyed by configuration journal and runtime version, so no stale status or config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.app import build_app
from agent.hosting.embedded.supervisor.host import EmbeddedHost
from agent.hosting.runtime_types import RuntimeStatus
from agent.hosting.runtime_version import TrackedStatus, runtime_version
from agent.keys import CONFIG_STORE, HOST
from agent.settings import AgentSettings
from tests.agent.hosting.support import loopback
from tests.conftest import ClientFactory

SITES = "/api/webserver/websites"
POOLS = "/api/webserver/application-pools"


class _Thing:
    state = TrackedStatus[RuntimeStatus]()

    def __init__(self) -> None:
        self.state = RuntimeStatus.STOPPED


def test_a_tracked_status_bumps_the_runtime_version_only_when_it_changes() -> None:
    thing = _Thing()
    before = runtime_version()
    thing.state = RuntimeStatus.STOPPED
    assert runtime_version() == before
    thing.state = RuntimeStatus.STARTED
    assert runtime_version() == before + 1
    assert thing.state == RuntimeStatus.STARTED


async def _status(api: TestClient[Any, Any], url: str) -> Any:
    response = await api.get(url)
    assert response.status == 200, await response.text()
    return await response.json()


@pytest.mark.timeout(60)
async def test_a_pool_stop_behind_the_apis_back_is_seen_by_the_next_get(
    aiohttp_client: ClientFactory, state_dir: Path, settings: AgentSettings, token: str
) -> None:
    app = build_app(state_dir, settings)
    store = app[CONFIG_STORE]
    with store.write_sync():  # nothing listens: the test needs statuses, not traffic
        site = store.section("system.applicationHost/sites").collection().find(name="Default Web Site")
        assert site is not None
        site.set("serverAutoStart", False)
    host = EmbeddedHost(store, state_dir, loopback(), poll_interval=0.2)
    app[HOST] = host
    await host.start()
    try:
        api = await aiohttp_client(app, headers={"Access-Token": f"Bearer {token}"})
        pools = (await _status(api, POOLS))["app_pools"]
        pool_url = f"{POOLS}/{next(p['id'] for p in pools if p['name'] == 'DefaultAppPool')}"
        site_url = f"{SITES}/{(await _status(api, SITES))['websites'][0]['id']}"
        for _ in range(2):  # a miss, then an answer from the cache
            assert (await _status(api, pool_url))["status"] == "started"
            assert (await _status(api, site_url))["application_pool"]["status"] == "started"
            assert (await _status(api, site_url))["status"] == "stopped"
        # As rapid-fail protection would: no API write, no configuration change, only runtime state.
        await host.stop_pool("DefaultAppPool")
        assert (await _status(api, pool_url))["status"] == "stopped"
        assert (await _status(api, site_url))["application_pool"]["status"] == "stopped"
        listed = (await _status(api, POOLS))["app_pools"]
        assert {p["name"]: p["status"] for p in listed}["DefaultAppPool"] == "stopped"
        await host.start_pool("DefaultAppPool")
        assert (await _status(api, pool_url))["status"] == "started"
        host.server_state = RuntimeStatus.STOPPED  # any tracked state counts, the server's too
        assert runtime_version() > 0
    finally:
        await host.close()


async def test_an_iis_style_host_without_a_runtime_version_is_never_cached(api: TestClient[Any, Any]) -> None:
    from agent.api.answer_cache import answer_state
    from agent.hosting.base import UnavailableHost

    class Unversioned(UnavailableHost):
        @property
        def runtime_version(self) -> int | None:
            return None

    store = api.server.app[CONFIG_STORE]
    assert answer_state(store, Unversioned()) is None
    assert answer_state(store, UnavailableHost()) is not None


async def test_a_write_moves_the_state_so_the_next_read_renders_again(api: TestClient[Any, Any]) -> None:
    from agent.api.answer_cache import answer_cache

    site_id = (await _status(api, SITES))["websites"][0]["id"]
    first = await api.get(f"{SITES}/{site_id}")
    second = await api.get(f"{SITES}/{site_id}")
    assert await first.read() == await second.read()
    store = api.server.app[CONFIG_STORE]
    assert answer_cache(store)._answers, "the second read should have been answered from the cache"
    patched = await api.patch(f"{SITES}/{site_id}", json={"limits": {"max_connections": 4321}})
    assert patched.status == 200
    assert (await _status(api, f"{SITES}/{site_id}"))["limits"]["max_connections"] == 4321
