"""Transactions: atomic saves with backups, rollback, concurrent writers, external changes, large files."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from agent.iisconfig import ConfigStore, write_stock_config

from .conftest import SAMPLE

POOLS = "system.applicationHost/applicationPools"
SITES = "system.applicationHost/sites"


def _pool_names(cfg: ConfigStore) -> set[str]:
    return {p.get("name") for p in cfg.section(POOLS).collection()}


def _unchanged(path: Path) -> bool:
    return path.read_bytes() == SAMPLE.read_bytes()


async def test_async_write_saves_and_keeps_ten_backups(store: ConfigStore, sample_path: Path) -> None:
    history = sample_path.parent / "history"
    generation = store.generation
    for index in range(12):
        async with store.write() as cfg:
            cfg.section(POOLS).collection().add(name=f"Pool{index}")
    assert store.generation == generation + 12
    backups = sorted(history.iterdir())
    assert len(backups) == 10
    assert all(b.name.startswith("applicationHost.config.") and b.name.endswith("Z") for b in backups)
    assert b"Pool10" in backups[-1].read_bytes() and b"Pool11" not in backups[-1].read_bytes()
    fresh = ConfigStore(sample_path)
    fresh.load()
    assert {f"Pool{i}" for i in range(12)} <= _pool_names(fresh)


async def test_no_change_means_no_write(store: ConfigStore, sample_path: Path) -> None:
    before = os.stat(sample_path).st_mtime_ns
    async with store.write() as cfg:
        cfg.section(POOLS).collection().find(name="StorefrontPool")
        cfg.section("system.webServer/directoryBrowse", "Nowhere").get("enabled")
    assert os.stat(sample_path).st_mtime_ns == before
    assert not (sample_path.parent / "history").exists()
    assert "Nowhere" not in store.locations()


async def test_failed_block_leaves_no_trace(store: ConfigStore, sample_path: Path) -> None:
    generation = store.generation
    with pytest.raises(RuntimeError):
        async with store.write() as cfg:
            cfg.section(POOLS).collection().add(name="Doomed")
            cfg.section("system.webServer/directoryBrowse", "Storefront").set("enabled", True)
            raise RuntimeError("boom")
    assert "Doomed" not in _pool_names(store)
    assert "Storefront" not in store.locations()
    assert _unchanged(sample_path)
    assert store.generation > generation
    with pytest.raises(ValueError):
        with store.write_sync() as cfg:
            cfg.section(POOLS).collection().add(name="Doomed")
            raise ValueError
    assert "Doomed" not in _pool_names(store)


async def test_concurrent_async_writers(store: ConfigStore, sample_path: Path) -> None:
    async def add(index: int) -> None:
        async with store.write() as cfg:
            await asyncio.sleep(0)
            cfg.section(POOLS).collection().add(name=f"Async{index}")

    await asyncio.gather(*(add(i) for i in range(20)))
    fresh = ConfigStore(sample_path)
    fresh.load()
    assert {f"Async{i}" for i in range(20)} <= _pool_names(fresh)


def test_two_stores_in_threads_lose_nothing(sample_path: Path) -> None:
    stores = [ConfigStore(sample_path), ConfigStore(sample_path)]
    for cfg in stores:
        cfg.load()

    def work(cfg: ConfigStore, prefix: str) -> None:
        for index in range(15):
            with cfg.write_sync() as tx:
                tx.section(POOLS).collection().add(name=f"{prefix}{index}")

    threads = [threading.Thread(target=work, args=(cfg, f"T{n}-")) for n, cfg in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = ConfigStore(sample_path)
    final.load()
    assert {f"T{n}-{i}" for n in range(2) for i in range(15)} <= _pool_names(final)
    assert len(list((sample_path.parent / "history").iterdir())) == 10


def test_reload_after_external_change(store: ConfigStore, sample_path: Path) -> None:
    assert not store.refresh_if_changed()
    generation = store.generation
    replacement = sample_path.with_name("tmp.config")
    replacement.write_bytes(SAMPLE.read_bytes().replace(b'name="Storefront"', b'name="Renamed"'))
    os.replace(replacement, sample_path)
    assert store.refresh_if_changed()
    assert store.generation == generation + 1
    assert store.section(SITES).collection().find(id="1").get("name") == "Renamed"  # type: ignore[union-attr]
    assert not store.refresh_if_changed()
    # A broken file keeps the last good state.
    sample_path.write_text("<configuration>")
    assert not store.refresh_if_changed()
    assert store.section(SITES).collection().find(id="1") is not None


def test_writer_picks_up_external_change(store: ConfigStore, sample_path: Path) -> None:
    other = ConfigStore(sample_path)
    other.load()
    with other.write_sync() as cfg:
        cfg.section(POOLS).collection().add(name="FromOther")
    with store.write_sync() as cfg:
        cfg.section(POOLS).collection().add(name="FromStore")
    final = ConfigStore(sample_path)
    final.load()
    assert {"FromOther", "FromStore"} <= _pool_names(final)


def test_stock_config(tmp_path: Path) -> None:
    path = tmp_path / "state" / "applicationHost.config"
    content = tmp_path / "inetpub" / "wwwroot"
    write_stock_config(path, content)
    assert "<html" in (content / "iisstart.htm").read_text()
    cfg = ConfigStore(path)
    cfg.load()
    pool = cfg.section(POOLS).collection().find(name="DefaultAppPool")
    assert pool is not None
    assert pool.get("managedRuntimeVersion") == "v4.0"
    assert pool.child("processModel").get("identityType") == "ApplicationPoolIdentity"
    site = cfg.section(SITES).collection().find(id="1")
    assert site is not None
    assert site.get("name") == "Default Web Site"
    binding = site.collection("bindings").find(protocol="http", bindingInformation="*:80:")
    assert binding is not None
    root_app = site.collection().find(path="/")
    assert root_app is not None and root_app.get("applicationPool") == "DefaultAppPool"
    vdir = root_app.collection().find(path="/")
    assert vdir is not None and vdir.get("physicalPath") == str(content)
    assert site.child("logFile").get("directory") == str(tmp_path / "inetpub" / "logs" / "LogFiles")
    docs = cfg.section("system.webServer/defaultDocument").child("files").collection()
    assert docs.find(value="iisstart.htm") is not None
    assert cfg.section("system.webServer/staticContent").collection().find(fileExtension=".HTML") is not None
    assert cfg.section("system.webServer/globalModules").collection().find(name="StaticFileModule") is not None
    assert cfg.is_locked("system.webServer/security/authentication/anonymousAuthentication", "Default Web Site")
    assert cfg.serialize() == path.read_bytes()


def test_new_site_goes_before_site_defaults(tmp_path: Path) -> None:
    path = tmp_path / "applicationHost.config"
    write_stock_config(path, tmp_path / "wwwroot")
    cfg = ConfigStore(path)
    cfg.load()
    with cfg.write_sync():
        site = cfg.section(SITES).collection().add(name="Second", id=2)
        site.collection("bindings").add(protocol="http", bindingInformation="*:8080:")
        app = site.collection().add(path="/", applicationPool="DefaultAppPool")
        app.collection().add(path="/", physicalPath="/srv/second")
    text = path.read_text("utf-8-sig")
    assert text.index('<site name="Second" id="2">') < text.index("<siteDefaults>")
    assert '        <application path="/" applicationPool="DefaultAppPool">\n' in text
    second = ConfigStore(path)
    second.load()
    assert second.section(SITES).collection().find(name="second") is not None


def test_ten_thousand_sites(tmp_path: Path) -> None:
    sites = "\n".join(
        f'      <site name="Site{i}" id="{i}"><application path="/"><virtualDirectory path="/" '
        f'physicalPath="/srv/{i}" /></application><bindings><binding protocol="http" '
        f'bindingInformation="*:{10000 + i}:" /></bindings></site>'
        for i in range(1, 10001)
    )
    path = tmp_path / "applicationHost.config"
    path.write_text(
        "<configuration><system.applicationHost><sites>\n"
        f'{sites}\n      <siteDefaults><limits connectionTimeout="00:01:00" /></siteDefaults>\n'
        "</sites></system.applicationHost></configuration>"
    )
    cfg = ConfigStore(path)
    cfg.load()
    collection = cfg.section(SITES).collection()
    assert len(collection) == 10000
    for site_id in (1, 5000, 10000):
        site = cfg.section(SITES).collection().find(id=str(site_id))
        assert site is not None and site.get("name") == f"Site{site_id}"
    assert all(s.child("limits").get("connectionTimeout").total_seconds() == 60 for s in collection.items()[:2000])
    with cfg.write_sync():
        cfg.section(SITES).collection().add(name="Site10001", id=10001)
    assert cfg.section(SITES).collection().find(id=10001) is not None
