"""Location tags, effective (merged) sections, reverting to parent, and section locking."""

from __future__ import annotations

from pathlib import Path

from agent.iisconfig import ConfigStore

DOCS = "system.webServer/defaultDocument"
HEADERS = "system.webServer/httpProtocol"
BROWSE = "system.webServer/directoryBrowse"
STATIC = "system.webServer/staticContent"
ANON = "system.webServer/security/authentication/anonymousAuthentication"


def _values(cfg: ConfigStore, path: str) -> list[str]:
    files = cfg.effective_section(DOCS, path).child("files").collection()
    return [f.get("value") for f in files]


def test_write_at_location_creates_tag(store: ConfigStore, sample_path: Path) -> None:
    view = store.section(BROWSE, "/Storefront/checkout/")
    assert not view.exists
    assert view.get("enabled") is False  # the schema default
    with store.write_sync():
        view.set("enabled", True)
    assert view.exists
    assert "Storefront/checkout" in store.locations()
    text = sample_path.read_text("utf-8-sig")
    tag = '<location path="Storefront/checkout">\n    <system.webServer>\n      <directoryBrowse enabled="true" />'
    assert tag in text
    # Case-insensitive path match finds the same tag.
    assert store.section(BROWSE, "storefront/CHECKOUT").get("enabled") is True


def test_server_level_in_location_path_empty(store: ConfigStore) -> None:
    modules = store.section("system.webServer/modules")
    assert modules.exists
    assert modules.collection().find(name="StaticFileModule") is not None


def test_effective_merges_attributes_and_collections(store: ConfigStore) -> None:
    with store.write_sync():
        store.section(BROWSE, "Storefront").set("enabled", True)
        store.section(BROWSE, "Storefront/app").set("showFlags", "Date")
        site_files = store.section(DOCS, "Storefront").child("files").collection()
        inherited = store.effective_section(DOCS, "Storefront").child("files").collection().find(value="index.htm")
        assert inherited is not None
        site_files.remove(inherited)
        site_files.add(value="home.html")
        store.section(DOCS, "Storefront/app").child("files").collection().clear()
        store.section(DOCS, "Storefront/app").child("files").collection().add(value="app.html")
    browse = store.effective_section(BROWSE, "Storefront/app/dir")
    assert browse.get("enabled") is True
    assert browse.get("showFlags") == "Date"
    assert store.effective_section(BROWSE, "").get("enabled") is False
    server = ["index.html", "index.htm", "default.aspx", "iisstart.htm"]
    assert _values(store, "") == server
    # defaultDocument does not "merge append": a level's own entries come first.
    assert _values(store, "Storefront") == ["home.html", *[v for v in server if v != "index.htm"]]
    assert _values(store, "Storefront/app") == ["app.html"]
    assert _values(store, "Api") == server
    # The fixture's Intranet location starts its list with <clear />.
    assert _values(store, "Intranet") == ["home.aspx"]


def test_effective_remove_entry(store: ConfigStore) -> None:
    # The fixture's Api location has <remove fileExtension=".svg" /> under staticContent.
    def extensions(path: str) -> list[str]:
        return [m.get("fileExtension") for m in store.effective_section(STATIC, path).collection()]

    assert extensions("") == [".css", ".html", ".json", ".svg"]
    assert extensions("Api") == [".css", ".html", ".json"]
    assert extensions("Api/v1") == [".css", ".html", ".json"]
    assert extensions("Storefront") == [".css", ".html", ".json", ".svg"]


def test_effective_append_collections_and_key_override(store: ConfigStore) -> None:
    with store.write_sync():
        headers = store.section(HEADERS, "Storefront").child("customHeaders").collection()
        headers.add(name="X-Site", value="1")
        headers.add(name="x-powered-by", value="IIS Fleet")
    merged = store.effective_section(HEADERS, "Storefront").child("customHeaders").collection()
    assert [(h.get("name"), h.get("value")) for h in merged] == [("x-powered-by", "IIS Fleet"), ("X-Site", "1")]
    assert merged.find(name="X-POWERED-BY") is not None
    assert store.effective_section(HEADERS, "Storefront").readonly


def test_effective_cache_follows_changes(store: ConfigStore) -> None:
    first = store.effective_section(BROWSE, "Storefront")
    assert store.effective_section(BROWSE, "Storefront") is first
    with store.write_sync():
        store.section(BROWSE, "Storefront").set("enabled", True)
    assert store.effective_section(BROWSE, "Storefront").get("enabled") is True


def test_remove_location_section(store: ConfigStore, sample_path: Path) -> None:
    with store.write_sync():
        store.section(BROWSE, "Storefront").set("enabled", True)
    with store.write_sync():
        store.remove_location_section(BROWSE, "Storefront")
    assert "Storefront" not in store.locations()
    assert store.effective_section(BROWSE, "Storefront").get("enabled") is False
    with store.write_sync():
        store.remove_location_section("system.webServer/aspNetCore", "Api")
    assert "Api" in store.locations()  # handlers and staticContent are still there
    assert not store.section("system.webServer/aspNetCore", "Api").exists
    assert b"aspNetCore processPath" not in sample_path.read_bytes()


def test_locking(store: ConfigStore) -> None:
    # anonymousAuthentication is registered with overrideModeDefault="Deny" in the fixture.
    assert store.is_locked(ANON, "Storefront")
    assert not store.is_locked(ANON, "")
    assert not store.is_locked(BROWSE, "Storefront")
    assert store.override_mode("system.webServer/handlers", "") == "allow"
    assert store.override_mode(ANON, "Storefront") == "inherit"
    # <location path="Api" overrideMode="Allow"> unlocks only the sections inside it.
    assert store.override_mode("system.webServer/handlers", "Api") == "allow"
    assert store.override_mode(ANON, "Api") == "inherit"
    assert store.is_locked(ANON, "Api/v1")
    assert store.effective_override_mode(ANON, "Storefront/app") == "deny"
    with store.write_sync():
        store.set_override_mode(ANON, "Storefront", "allow")
        store.set_override_mode(BROWSE, "", "deny")
    assert not store.is_locked(ANON, "Storefront/app")
    assert store.override_mode(ANON, "Storefront") == "allow"
    assert store.is_locked(ANON, "Intranet")
    assert store.is_locked(BROWSE, "Storefront")
    # The server-level directoryBrowse moved into <location path="" overrideMode="Deny"> and still reads the same.
    assert store.section(BROWSE).get("enabled") is False
    assert store.section(BROWSE).get_raw("enabled") == "false"
