"""Upstream behaviours: delegation locking, install/uninstall, links, feature-delegation, custom sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

BY_ENDPOINT = {spec.endpoint: spec for spec in FEATURES}


async def test_section_locked_flow(api: TestClient[Any, Any], content_dir: Path) -> None:
    spec = BY_ENDPOINT["authentication/anonymous-authentication"]
    await make_site(api, content_dir)
    server = await feature_at(api, spec, "")
    site = await feature_at(api, spec, "Feat")
    assert site["metadata"]["is_locked"] is True  # overrideModeDefault Deny
    refused = await api.patch(f"{spec.path}/{site['id']}", json={"enabled": False})
    assert refused.status == 403 and (await refused.json())["title"] == "Object is locked"
    await api.patch(f"{spec.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
    changed = await api.patch(f"{spec.path}/{site['id']}", json={"enabled": False})
    assert changed.status == 200 and (await changed.json())["metadata"]["is_local"] is True
    await api.patch(f"{spec.path}/{server['id']}", json={"metadata": {"override_mode": "deny"}})
    locked = await api.get(spec.path, params={"scope": "Feat"})
    assert locked.status == 403 and (await locked.json())["title"] == "Object is locked"
    await api.patch(f"{spec.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
    unlocked = await feature_at(api, spec, "Feat")
    assert unlocked["enabled"] is False
    assert (await api.delete(f"{spec.path}/{unlocked['id']}")).status == 204
    assert (await feature_at(api, spec, "Feat"))["enabled"] is True


async def test_install_and_uninstall(api: TestClient[Any, Any]) -> None:
    spec = BY_ENDPOINT["authentication/basic-authentication"]
    missing = await api.get(spec.path)
    assert missing.status == 404 and (await missing.json())["name"] == "Basic Authentication"
    installed = await api.post(spec.path, json={})
    assert installed.status == 201
    body = await installed.json()
    assert body["enabled"] is False and installed.headers["Location"].endswith(body["id"])
    assert (await api.post(spec.path, json={})).status == 409
    assert (await api.delete(f"{spec.path}/{body['id']}")).status == 204
    assert (await api.get(spec.path)).status == 404


async def test_links_from_webserver_site_and_app(api: TestClient[Any, Any], content_dir: Path) -> None:
    links = (await (await api.get("/api/webserver")).json())["_links"]
    for name in ("authentication", "default_document", "directory_browsing", "handlers", "modules",
                 "request_filtering", "static_content", "global_modules", "delegation", "logging"):
        assert name in links, name
    assert (await api.get(links["directory_browsing"]["href"])).status == 200
    site = await make_site(api, content_dir)
    site_links = site["_links"]
    assert {"ssl", "directory_browsing", "delegation"} <= set(site_links)
    browsing = await (await api.get(site_links["directory_browsing"]["href"])).json()
    assert browsing["scope"] == "Feat/"
    auth = await (await api.get(links["authentication"]["href"])).json()
    assert set(auth["_links"]) == {"anonymous", "basic", "digest", "windows"}


async def test_scope_selectors(api: TestClient[Any, Any], content_dir: Path) -> None:
    spec = BY_ENDPOINT["directory-browsing"]
    site = await make_site(api, content_dir)
    by_site = await api.get(spec.path, params={"website.id": site["id"]})
    assert by_site.status == 209 and (await by_site.json())["scope"] == "Feat/"
    (content_dir / "app").mkdir()
    app_body = {"path": "app", "physical_path": str(content_dir / "app"), "website": {"id": site["id"]}}
    app = await (await api.post("/api/webserver/webapps", json=app_body)).json()
    by_app = await api.get(spec.path, params={"webapp.id": app["id"]})
    assert (await by_app.json())["scope"] == "Feat/app"
    assert "directory_browsing" in app["_links"]
    bad_scope = await api.patch(f"{spec.path}/{(await by_app.json())['id']}", json={"config_scope": "Other"})
    assert bad_scope.status == 400 and (await bad_scope.json())["name"] == "config_scope"
    modules = BY_ENDPOINT["http-modules"]
    deep = await feature_at(api, modules, "Feat/app/dir")
    await api.patch(f"{modules.path}/{(await feature_at(api, modules, ''))['id']}",
                    json={"metadata": {"override_mode": "allow"}})
    refused = await api.patch(f"{modules.path}/{deep['id']}", json={"run_all_managed_modules_for_all_requests": True})
    assert refused.status == 403 and (await refused.json())["title"] == "Scope is not allowed"


async def test_feature_delegation(api: TestClient[Any, Any]) -> None:
    listed = await (await api.get("/api/webserver/feature-delegation")).json()
    names = {s["name"]: s for s in listed["sections"]}
    section = names["system.webServer/directoryBrowse"]
    for mode in ("deny", "allow", "inherit"):
        patched = await api.patch(section["_links"]["self"]["href"], json={"override_mode": mode})
        assert patched.status == 200 and (await patched.json())["override_mode"] == mode
    assert (await api.patch(section["_links"]["self"]["href"], json={"override_mode": "x"})).status == 400


async def test_windows_providers_and_tokens(api: TestClient[Any, Any]) -> None:
    spec = BY_ENDPOINT["authentication/windows-authentication"]
    await ensure_installed(api, spec)
    feature = await feature_at(api, spec, "")
    assert feature["token_checking"] == "none"
    body = {"providers": [{"name": "NTLM", "enabled": True}], "token_checking": "require"}
    patched = await (await api.patch(f"{spec.path}/{feature['id']}", json=body)).json()
    assert patched["providers"][0] == {"name": "NTLM", "enabled": True}
    assert patched["token_checking"] == "require"
    bad = await api.patch(f"{spec.path}/{feature['id']}", json={"providers": [{"name": "Bogus", "enabled": True}]})
    assert bad.status == 404


async def test_logging_ssl_and_redirect(api: TestClient[Any, Any], content_dir: Path) -> None:
    logging = BY_ENDPOINT["logging"]
    server = await feature_at(api, logging, "")
    assert server["log_per_site"] is True and server["log_file_format"] == "w3c"
    fields = [{"field_name": "Test_Field", "source_type": "request_header", "source_name": "Test-Field"}]
    patched = await (await api.patch(f"{logging.path}/{server['id']}", json={
        "custom_log_fields": fields, "rollover": {"period": "weekly"}, "log_fields": {"cookie": True}})).json()
    assert patched["custom_log_fields"] == fields and patched["rollover"]["period"] == "weekly"
    assert patched["log_fields"]["cookie"] is True
    central = await (await api.patch(f"{logging.path}/{server['id']}", json={"log_per_site": False})).json()
    assert central["log_per_site"] is False and central["log_file_format"] == "w3c"
    await make_site(api, content_dir)
    ssl = BY_ENDPOINT["ssl-settings"]
    site_ssl = await feature_at(api, ssl, "Feat")
    assert site_ssl["require_ssl"] is False and site_ssl["has_https_binding"] is False
    refused = await api.patch(f"{ssl.path}/{site_ssl['id']}", json={"require_ssl": True})
    assert refused.status == 403
    redirect = BY_ENDPOINT["http-redirect"]
    red = await feature_at(api, redirect, "Feat")
    moved = await (await api.patch(f"{redirect.path}/{red['id']}", json={"status_code": 301, "enabled": True})).json()
    assert moved["status_code"] == 301 and moved["enabled"] is True
    assert (await api.patch(f"{redirect.path}/{red['id']}", json={"status_code": 303})).status == 400
