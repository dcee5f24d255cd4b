"""DELETE on a server-level feature uninstalls it (404 "IIS feature not installed" after), and POST reinstalls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.rows import REWRITE_SECTIONS, TRACING, URL_REWRITE
from agent.api.features.spec import FeatureSpec
from agent.api.features.table import FEATURES
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

INSTALLABLE = [spec for spec in FEATURES if spec.installable]
MONITOR = "/api/webserver/http-request-monitor"


async def _server_feature(api: TestClient[Any, Any], spec: FeatureSpec) -> dict[str, Any]:
    response = await api.get(spec.path, params={"scope": ""})
    assert response.status in (200, 209), await response.text()
    return dict(await response.json())


def test_every_installable_feature_has_an_uninstall_route() -> None:
    from agent.api.routes import ROUTES

    deletes = {route.path for route in ROUTES if route.method == "DELETE"}
    for spec in INSTALLABLE:
        assert spec.path + "/{id}" in deletes, spec.endpoint
    assert MONITOR + "/{id}" in deletes


@pytest.mark.parametrize("spec", INSTALLABLE, ids=[spec.endpoint for spec in INSTALLABLE])
async def test_uninstall_then_reinstall(api: TestClient[Any, Any], spec: FeatureSpec) -> None:
    await ensure_installed(api, spec)
    server = await _server_feature(api, spec)
    assert (await api.delete(f"{spec.path}/{server['id']}")).status == 204
    gone = await api.get(spec.path, params={"scope": ""})
    assert gone.status == 404 and (await gone.json())["detail"] == "IIS feature not installed"
    modules = await (await api.get("/api/webserver/global-modules")).json()
    names = {m["name"] for m in modules["global_modules"]}
    assert not names & set(spec.modules)
    assert (await api.delete(f"{spec.path}/{server['id']}")).status == 204  # idempotent
    again = await api.post(spec.path + "/", json={})  # the web manager's install switch, trailing slash
    assert again.status == 201, await again.text()
    assert again.headers["Location"] == f"{spec.path}/{(await again.json())['id']}"
    assert (await _server_feature(api, spec))["scope"] == ""  # served again
    assert (await api.post(spec.path, json={})).status == 409


async def test_uninstall_drops_handler_mappings_of_the_module(api: TestClient[Any, Any]) -> None:
    spec = next(s for s in FEATURES if s.endpoint == "static-content")
    handlers = next(s for s in FEATURES if s.endpoint == "http-handlers")
    feature = await feature_at(api, handlers, "")
    made = await api.post(f"{handlers.path}/entries", json={"name": "StaticFile", "path": "*", "verbs": "*",
                                                           "modules": "StaticFileModule,DefaultDocumentModule",
                                                           "handler": feature})  # fmt: skip
    assert made.status == 201, await made.text()
    other = await api.post(f"{handlers.path}/entries", json={"name": "Other", "path": "*.x", "verbs": "GET",
                                                            "modules": "IsapiModule", "handler": feature})  # fmt: skip
    assert other.status == 201
    server = await _server_feature(api, spec)
    assert (await api.delete(f"{spec.path}/{server['id']}")).status == 204
    listed = await (await api.get(f"{handlers.path}/entries?handler.id={feature['id']}")).json()
    assert [e["name"] for e in listed["entries"]] == ["Other"]


async def test_url_rewrite_uninstall_and_reinstall(api: TestClient[Any, Any], content_dir: Path) -> None:
    inbound = next(spec for spec in REWRITE_SECTIONS if spec.endpoint == "url-rewrite/inbound")
    await ensure_installed(api, URL_REWRITE)
    await make_site(api, content_dir)
    rule = {"name": "r", "pattern": "^a$", "action": {"type": "rewrite", "url": "/b"}}
    for scope in ("", "Feat"):
        section = await feature_at(api, inbound, scope)
        made = await api.post(f"{inbound.path}/rules", json={**rule, "name": f"r{scope}", "url_rewrite": section})
        assert made.status == 201, await made.text()
    site = await feature_at(api, URL_REWRITE, "Feat")
    assert (await api.delete(f"{URL_REWRITE.path}/{site['id']}")).status == 204  # site level: nothing happens
    assert (await api.get(URL_REWRITE.path, params={"scope": "Feat"})).status == 209
    server = await feature_at(api, URL_REWRITE, "")
    assert (await api.delete(f"{URL_REWRITE.path}/{server['id']}")).status == 204
    for url in (URL_REWRITE.path, inbound.path):
        gone = await api.get(url, params={"scope": ""})
        assert gone.status == 404 and (await gone.json())["name"] == "IIS Url Rewrite"
    assert (await api.post(URL_REWRITE.path, json={})).status == 201
    server_rules = await api.get(f"{inbound.path}/rules?url_rewrite.id={server['id']}")
    assert (await server_rules.json())["rules"] == []  # the installer's server-level sections went with it
    site_rules = await api.get(f"{inbound.path}/rules?url_rewrite.id={site['id']}")
    assert [r["name"] for r in (await site_rules.json())["rules"]] == ["rFeat"]  # site settings stay stored


async def test_tracing_reinstall_keeps_user_providers(api: TestClient[Any, Any]) -> None:
    await ensure_installed(api, TRACING)
    server = await feature_at(api, TRACING, "")
    made = await api.post(f"{TRACING.path}/providers", json={
        "name": "Mine", "guid": "{5e2f3a4b-0c1d-4e5f-8a9b-0c1d2e3f4a5b}", "areas": ["x"], "request_tracing": server})
    assert made.status == 201, await made.text()
    assert (await api.delete(f"{TRACING.path}/{server['id']}")).status == 204
    assert (await api.post(TRACING.path, json={})).status == 201
    listed = await (await api.get(f"{TRACING.path}/providers?http_request_tracing.id={server['id']}")).json()
    assert {"WWW Server", "ASP", "ISAPI Extension", "ASPNET", "Mine"} == {p["name"] for p in listed["providers"]}


async def test_request_monitor_uninstall_and_reinstall(api: TestClient[Any, Any]) -> None:
    located = await api.get(MONITOR)
    assert located.status == 209
    fid = (await located.json())["id"]
    assert (await api.post(MONITOR, json={})).status == 409
    assert (await api.delete(f"{MONITOR}/{fid}")).status == 204
    gone = await api.get(MONITOR)
    assert gone.status == 404 and (await gone.json())["name"] == "Request Monitor"
    made = await api.post(MONITOR, json={})
    assert made.status == 201 and made.headers["Location"] == f"{MONITOR}/{fid}"
    assert (await api.get(f"{MONITOR}/{fid}")).status == 200
