"""The rendered-model cache: keyed invalidation, no stale answer after a 2xx write, outside edits seen at once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from agent.api.model_cache import ModelCache
from agent.iisconfig import ConfigStore
from agent.keys import CONFIG_STORE

SITES = "/api/webserver/websites"
SITES_SECTION = "system.applicationHost/sites"


def _site(store: ConfigStore, name: str) -> Any:
    site = store.section(SITES_SECTION).collection().find(name=name)
    assert site is not None
    return site


def _two_sites(tmp_path: Path) -> tuple[ConfigStore, ModelCache, Any, Any]:
    from agent.app import open_config_store

    store = open_config_store(tmp_path)
    with store.write_sync():
        sites = store.section(SITES_SECTION).collection()
        for key, name in ((2, "A"), (3, "B")):
            app = sites.add({"name": name, "id": key}).collection().add({"path": "/"})
            app.collection().add({"path": "/", "physicalPath": str(tmp_path)})
    cache = ModelCache()
    cache.sync(store.document)
    a, b = _site(store, "A").element, _site(store, "B").element
    cache.put(("a",), a, ("sites",), {"name": "A"})
    cache.put(("b",), b, ("sites",), {"name": "B"})
    pool = store.section("system.applicationHost/applicationPools").collection().find(name="DefaultAppPool")
    assert pool is not None
    cache.put(("pool",), pool.element, ("applicationPools",), {"name": "DefaultAppPool"})
    return store, cache, a, b


def _kept(store: ConfigStore, cache: ModelCache) -> set[str]:
    cache.sync(store.document)
    return {name for name in ("a", "b", "pool") if cache.get((name,)) is not None}


def test_a_change_inside_one_site_drops_only_that_site(tmp_path: Path) -> None:
    store, cache, _a, _b = _two_sites(tmp_path)
    with store.write_sync():
        site = _site(store, "A")
        site.child("limits").set("maxConnections", 5)
        site.collection("bindings").add({"protocol": "http", "bindingInformation": "*:81:"})
        site.collection().find(path="/").collection().find(path="/").set("physicalPath", str(tmp_path / "x"))
    assert _kept(store, cache) == {"b", "pool"}


def test_removing_a_site_drops_it_and_nothing_else(tmp_path: Path) -> None:
    store, cache, _a, _b = _two_sites(tmp_path)
    with store.write_sync():
        store.section(SITES_SECTION).collection().remove(_site(store, "B"))
    assert _kept(store, cache) == {"a", "pool"}


def test_a_pool_change_keeps_site_models_and_a_feature_change_keeps_all(tmp_path: Path) -> None:
    store, cache, _a, _b = _two_sites(tmp_path)
    with store.write_sync():
        pools = store.section("system.applicationHost/applicationPools").collection()
        pool = pools.find(name="DefaultAppPool")
        assert pool is not None
        pool.set("queueLength", 2000)
    assert _kept(store, cache) == {"a", "b"}
    cache.put(("pool",), pool.element, ("applicationPools",), {"name": "DefaultAppPool"})
    with store.write_sync():
        store.section("system.webServer/directoryBrowse", "A").set("enabled", True)
    assert _kept(store, cache) == {"a", "b", "pool"}


def test_site_defaults_drop_every_site_model(tmp_path: Path) -> None:
    store, cache, _a, _b = _two_sites(tmp_path)
    with store.write_sync():
        store.section(SITES_SECTION).child("siteDefaults").child("limits").set("maxConnections", 7)
    assert _kept(store, cache) == {"pool"}


def test_unknown_changes_reloads_and_rollbacks_drop_everything(tmp_path: Path) -> None:
    store, cache, a, b = _two_sites(tmp_path)
    with store.write_sync():
        store.mark_changed()  # raw lxml edits: where is unknown
    assert _kept(store, cache) == set()
    cache.put(("a",), a, ("sites",), {"name": "A"})
    other = ConfigStore(store.path)
    other.load()
    with other.write_sync():
        _site(other, "B").set("serverAutoStart", False)
    assert store.refresh_if_changed()
    assert _kept(store, cache) == set()  # a new document: the old elements are gone with it
    cache.put(("b",), _site(store, "B").element, ("sites",), {"name": "B"})
    try:
        with store.write_sync():
            _site(store, "A").set("serverAutoStart", False)
            raise RuntimeError("abandon the write")
    except RuntimeError:
        pass
    assert _kept(store, cache) == set()


async def _limits(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
        return int(body["limits"]["max_connections"]), str(body["name"])


async def test_interleaved_reads_and_writes_never_answer_older_than_the_last_acknowledged_write(
    api: TestClient[Any, Any], content_dir: Path
) -> None:
    ids = []
    for n in range(4):
        created = await api.post(SITES, json={"name": f"s{n}-0", "physical_path": str(content_dir),
                                              "limits": {"max_connections": 0},
                                              "bindings": [{"ip_address": "*", "port": 9000 + n, "protocol": "http"}]})
        assert created.status == 201
        ids.append((await created.json())["id"])
    acked = [0] * len(ids)
    sent = [0] * len(ids)
    rounds = 100
    checked = 0
    headers = dict(api.session.headers)

    async def writer(i: int, session: aiohttp.ClientSession) -> None:
        for k in range(1, rounds + 1):
            sent[i] = k
            body = {"name": f"s{i}-{k}", "limits": {"max_connections": k}}
            async with session.patch(api.make_url(f"{SITES}/{ids[i]}"), json=body) as response:
                assert response.status == 200, await response.text()
            acked[i] = k

    async def reader(seed: int, session: aiohttp.ClientSession) -> None:
        nonlocal checked
        rng = random.Random(seed)
        for _ in range(150):
            i = rng.randrange(len(ids))
            floor = acked[i]
            if rng.random() < 0.5:
                value, name = await _limits(session, str(api.make_url(f"{SITES}/{ids[i]}")))
                assert floor <= value <= sent[i], (i, floor, value)
                assert name == f"s{i}-{value}"
            else:
                async with session.get(api.make_url(SITES)) as response:
                    listed = {s["id"]: s["name"] for s in (await response.json())["websites"]}
                assert floor <= int(listed[ids[i]].rpartition("-")[2]) <= sent[i]
            checked += 1

    sessions = [aiohttp.ClientSession(headers=headers) for _ in range(8)]
    try:
        await asyncio.gather(*(writer(i, sessions[i]) for i in range(4)),
                             *(reader(n, sessions[4 + n]) for n in range(4)))
        assert checked == 600  # with 400 writes: 1,000 interleaved requests
        for i, site_id in enumerate(ids):
            assert await _limits(sessions[0], str(api.make_url(f"{SITES}/{site_id}"))) == (rounds, f"s{i}-{rounds}")
    finally:
        for session in sessions:
            await session.close()


async def test_an_outside_edit_is_seen_by_the_next_read(api: TestClient[Any, Any]) -> None:
    listed = await (await api.get(SITES)).json()
    site_id = listed["websites"][0]["id"]
    before = await (await api.get(f"{SITES}/{site_id}")).json()
    assert before["limits"]["max_connections"] != 77
    store = api.server.app[CONFIG_STORE]
    other = ConfigStore(store.path)  # another program: its own parse, the file lock, an atomic rename
    other.load()
    with other.write_sync():
        site = _site(other, "Default Web Site")
        site.child("limits").set("maxConnections", 77)
        site.set("name", "Renamed outside")
    after = await (await api.get(f"{SITES}/{site_id}")).json()
    assert after["limits"]["max_connections"] == 77
    assert after["name"] == "Renamed outside"
    listed = await (await api.get(SITES)).json()
    assert listed["websites"][0]["name"] == "Renamed outside"


async def test_live_members_are_not_frozen_and_fields_select_from_the_cache(api: TestClient[Any, Any]) -> None:
    site_id = (await (await api.get(SITES)).json())["websites"][0]["id"]
    full = await (await api.get(f"{SITES}/{site_id}")).json()
    narrow = await (await api.get(f"{SITES}/{site_id}?fields=name,application_pool.name")).json()
    assert set(narrow) == {"id", "name", "application_pool", "_links"}
    assert narrow["application_pool"]["name"] == full["application_pool"]["name"]
    again = await (await api.get(f"{SITES}/{site_id}")).json()
    assert again == full
    # Deleting the pool changes the site's application_pool member although the site itself did not change.
    pool_id = full["application_pool"]["id"]
    assert (await api.delete(f"/api/webserver/application-pools/{pool_id}")).status == 204
    assert (await (await api.get(f"{SITES}/{site_id}")).json())["application_pool"] is None


async def test_cached_bodies_are_the_same_bytes_json_response_would_send(api: TestClient[Any, Any]) -> None:
    from agent.api.templates import dumps

    site_id = (await (await api.get(SITES)).json())["websites"][0]["id"]
    webapps = "/api/webserver/webapps?website.id=" + site_id
    for url in (SITES, f"{SITES}/{site_id}", f"{SITES}/{site_id}?fields=name,status,bindings.port",
                f"{SITES}?fields=*", "/api/webserver/application-pools", webapps):
        for accept in ("application/hal+json", "application/json"):
            for _ in range(2):  # a miss, then a hit
                response = await api.get(url, headers={"Accept": accept})
                assert response.status == 200, url
                raw = await response.read()
                assert raw == dumps(await response.json()), url
