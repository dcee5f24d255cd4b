"""Loading and round-tripping the project's applicationHost.config fixture, and reading it with IIS defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.iisconfig import ConfigError, ConfigStore

from .conftest import SAMPLE

SITES = "system.applicationHost/sites"
POOLS = "system.applicationHost/applicationPools"


def test_fixture_loads(store: ConfigStore) -> None:
    sites = store.section(SITES).collection()
    assert [s.get("name") for s in sites] == ["Storefront", "Intranet", "Api"]
    assert store.section(POOLS).collection().find(name="legacyclassicpool") is not None
    intranet = sites.find(id="2")
    assert intranet is not None
    bindings = [(b.get("protocol"), b.get("bindingInformation")) for b in intranet.collection("bindings")]
    assert bindings == [("http", "10.0.0.5:80:intranet.example.test"), ("https", "10.0.0.5:443:intranet.example.test")]
    assert store.root.tag == "configuration"
    assert store.generation == 1


def test_round_trip_is_byte_identical(store: ConfigStore, sample_path: Path) -> None:
    original = SAMPLE.read_bytes()
    assert store.serialize() == original
    with store.write_sync():
        store.mark_changed()
    assert sample_path.read_bytes() == original
    assert sample_path.read_bytes().startswith(b"\xef\xbb\xbf<?xml")
    assert b'<!-- <add name="WebDAVModule"' in sample_path.read_bytes()


def test_round_trip_after_edit_keeps_everything_else(store: ConfigStore, sample_path: Path) -> None:
    with store.write_sync():
        store.section("system.webServer/directoryBrowse").set("enabled", True)
    after = sample_path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf<?xml")
    assert after.replace(b'<directoryBrowse enabled="true" />', b'<directoryBrowse enabled="false" />') == (
        SAMPLE.read_bytes()
    )


def test_crlf_and_open_close_pairs_survive(tmp_path: Path) -> None:
    path = tmp_path / "applicationHost.config"
    data = b'<?xml version="1.0"?>\r\n<configuration>\r\n  <a x="1"></a>\r\n  <b/>\r\n</configuration>\r\n'
    path.write_bytes(data)
    cfg = ConfigStore(path)
    cfg.load()
    assert cfg.serialize() == data


def test_broken_xml_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "applicationHost.config"
    path.write_text("<configuration><sites>")
    with pytest.raises(ConfigError, match="well-formed"):
        ConfigStore(path).load()
    with pytest.raises(ConfigError):
        ConfigStore(tmp_path / "missing.config").load()


def test_pool_defaults(store: ConfigStore) -> None:
    pool = store.section(POOLS).collection().find(name="LegacyClassicPool")
    assert pool is not None
    assert pool.get("managedRuntimeVersion") == ""
    assert pool.get("managedPipelineMode") == "Classic"
    assert pool.get("queueLength") == 1000
    assert pool.get("startMode") == "OnDemand"
    assert pool.child("processModel").get("identityType") == "ApplicationPoolIdentity"
    assert pool.child("processModel").get("idleTimeout") == timedelta(minutes=20)
    assert pool.child("recycling").get("logEventOnRecycle") == "Time,Memory,PrivateMemory"
    assert pool.child("recycling").child("periodicRestart").get("time") == timedelta(days=1, hours=5)
    assert pool.child("cpu").get("smpProcessorAffinityMask") == 4294967295
    # The fixture's applicationPoolDefaults sets managedRuntimeLoader="v4.0" for every pool.
    assert pool.get("managedRuntimeLoader") == "v4.0"
    assert pool.get("somethingUnknown") is None
    # A pool's own children and attributes win over the schema defaults.
    intranet = store.section(POOLS).collection().find(name="IntranetPool")
    assert intranet is not None
    assert intranet.child("processModel").get("identityType") == "NetworkService"
    assert intranet.child("processModel").get("idleTimeout") == timedelta(minutes=5)
    assert intranet.child("recycling").child("periodicRestart").get("time") == timedelta(hours=12)
    batch = store.section(POOLS).collection().find(name="BatchPool")
    assert batch is not None
    assert (batch.get("queueLength"), batch.get("startMode")) == (5000, "AlwaysRunning")


def test_application_pool_defaults_override(store: ConfigStore) -> None:
    section = store.section(POOLS)
    with store.write_sync():
        defaults = section.child("applicationPoolDefaults")
        defaults.set("queueLength", 2000)
        defaults.child("processModel").set("idleTimeout", timedelta(minutes=5))
        section.collection().add(name="Plain")
    pool = section.collection().find(name="plain")
    assert pool is not None
    assert pool.get("queueLength") == 2000
    assert pool.child("processModel").get("idleTimeout") == timedelta(minutes=5)
    assert not pool.has("queueLength")
    pool_with_own = section.collection().find(name="StorefrontPool")
    assert pool_with_own is not None
    with store.write_sync():
        pool_with_own.set("queueLength", 50)
    assert pool_with_own.get("queueLength") == 50


def test_site_defaults_fallback(store: ConfigStore) -> None:
    site = store.section(SITES).collection().find(id="1")
    assert site is not None
    assert site.child("logFile").get("directory") == r"%SystemDrive%\inetpub\logs\LogFiles"
    assert site.child("traceFailedRequestsLogging").get("enabled") is True
    assert site.child("limits").get("maxUrlSegments") == 32
    with store.write_sync():
        store.section(SITES).child("siteDefaults").child("limits").set("connectionTimeout", 300)
    assert site.child("limits").get("connectionTimeout") == timedelta(minutes=5)
    intranet = store.section(SITES).collection().find(name="Intranet")
    assert intranet is not None
    assert intranet.child("limits").get("connectionTimeout") == timedelta(seconds=45)  # its own value wins
    checkout = site.collection().find(path="/checkout")
    assert checkout is not None and checkout.get("applicationPool") == "LegacyClassicPool"
    app = site.collection().find(path="/")
    assert app is not None
    assert app.get("applicationPool") == "StorefrontPool"  # from sites/applicationDefaults
    assert [v.get("path") for v in app.collection()] == ["/", "/media"]
    vdir = app.collection().find(path="/")
    assert vdir is not None
    assert vdir.get("allowSubDirConfig") is True
    assert vdir.get("logonMethod") == "ClearText"
