"""Location tags, effective (merged) sections, reverting to parent, and section locking."""

from __future__ import annotations

from pathlib import Path

from agent.iisconfig import ConfigStore

DOCS = "system.webServer/defaultDocument"
HEADERS = "system.webServer/httpProtocol"
BROWSE = "system.webServer/directoryBrowse"
ANON = "system.webServer/security/authentication/anonymousAuthentication"


def _values(cfg: ConfigStore, path: str) -> list[str]:
    files = cfg.effective_section(DOCS, path).child("files").collection()
    return [f.get("value") for f in files]


def test_write_at_location_creates_tag(store: ConfigStore, sample_path: Path) -> None:
    view = store.section(BROWSE, "/WebSite1/app/")
    assert not view.exists
    assert view.get("enabled") is False  # the schema default
    with store.write_sync():
        view.set("enabled", True)
    assert view.exists
    assert "WebSite1/app" in store.locations()
    text = sample_path.read_text("utf-8-sig")
    assert '<location path="WebSite1/app">\n    <system.webServer>\n      <directoryBrowse enabled="true" />' in text
    # Case-insensitive path match finds the same tag.
    assert store.section(BROWSE, "website1/APP").get("enabled") is True


def test_server_level_in_location_path_empty(store: ConfigStore) -> None:
    modules = store.section("system.webServer/modules")
    assert modules.exists
    assert modules.collection().find(name="StaticFileModule") is not None


def test_effective_merges_attributes_and_collections(store: ConfigStore) -> None:
    with store.write_sync():
        store.section(BROWSE, "WebSite1").set("enabled", True)
        store.section(BROWSE, "WebSite1/app").set("showFlags", "Date")
        site_files = store.section(DOCS, "WebSite1").child("files").collection()
        inherited = store.effective_section(DOCS, "WebSite1").child("files").collection().find(value="Default.asp")
        assert inherited is not None
        site_files.remove(inherited)
        site_files.add(value="home.html")
        store.section(DOCS, "WebSite1/app").child("files").collection().clear()
        store.section(DOCS, "WebSite1/app").child("files").collection().add(value="app.html")
    browse = store.effective_section(BROWSE, "WebSite1/app/dir")
    assert browse.get("enabled") is True
    assert browse.get("showFlags") == "Date"
    assert store.effective_section(BROWSE, "").get("enabled") is False
    server = ["Default.htm", "Default.asp", "index.htm", "index.html", "iisstart.htm", "default.aspx"]
    assert _values(store, "") == server
    # defaultDocument does not "merge append": a level's own entries come first.
    assert _values(store, "WebSite1") == ["home.html", *[v for v in server if v != "Default.asp"]]
    assert _values(store, "WebSite1/app") == ["app.html"]
    assert _values(store, "WebAppWithAzureAD") == server


def test_effective_append_collections_and_key_override(store: ConfigStore) -> None:
    with store.write_sync():
        headers = store.section(HEADERS, "WebSite1").child("customHeaders").collection()
        headers.add(name="X-Site", value="1")
        headers.add(name="x-powered-by", value="IIS Fleet")
    merged = store.effective_section(HEADERS, "WebSite1").child("customHeaders").collection()
    assert [(h.get("name"), h.get("value")) for h in merged] == [("x-powered-by", "IIS Fleet"), ("X-Site", "1")]
    assert merged.find(name="X-POWERED-BY") is not None
    assert store.effective_section(HEADERS, "WebSite1").readonly


def test_effective_cache_follows_changes(store: ConfigStore) -> None:
    first = store.effective_section(BROWSE, "WebSite1")
    assert store.effective_section(BROWSE, "WebSite1") is first
    with store.write_sync():
        store.section(BROWSE, "WebSite1").set("enabled", True)
    assert store.effective_section(BROWSE, "WebSite1").get("enabled") is True


def test_remove_location_section(store: ConfigStore, sample_path: Path) -> None:
    with store.write_sync():
        store.section(BROWSE, "WebSite1").set("enabled", True)
    with store.write_sync():
        store.remove_location_section(BROWSE, "WebSite1")
    assert "WebSite1" not in store.locations()
    assert store.effective_section(BROWSE, "WebSite1").get("enabled") is False
    with store.write_sync():
        store.remove_location_section("system.webServer/aspNetCore", "WebAppWithAzureAD")
    assert "WebAppWithAzureAD" in store.locations()  # handlers and httpCompression are still there
    assert not store.section("system.webServer/aspNetCore", "WebAppWithAzureAD").exists
    assert b"aspNetCore processPath" not in sample_path.read_bytes()


def test_locking(store: ConfigStore) -> None:
    # anonymousAuthentication is registered with overrideModeDefault="Deny" in the sample.
    assert store.is_locked(ANON, "WebSite1")
    assert not store.is_locked(ANON, "")
    assert not store.is_locked(BROWSE, "WebSite1")
    assert store.override_mode("system.webServer/handlers", "") == "allow"
    assert store.override_mode(ANON, "WebSite1") == "inherit"
    assert store.effective_override_mode(ANON, "WebSite1/app") == "deny"
    with store.write_sync():
        store.set_override_mode(ANON, "WebSite1", "allow")
        store.set_override_mode(BROWSE, "", "deny")
    assert not store.is_locked(ANON, "WebSite1/app")
    assert store.override_mode(ANON, "WebSite1") == "allow"
    assert store.is_locked(ANON, "WebAppWithAzureAD")
    assert store.is_locked(BROWSE, "WebSite1")
    # The server-level directoryBrowse moved into <location path="" overrideMode="Deny"> and still reads the same.
    assert store.section(BROWSE).get("enabled") is False
    assert store.section(BROWSE).get_raw("enabled") == "false"
