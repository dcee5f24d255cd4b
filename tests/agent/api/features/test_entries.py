"""Child collections: create, duplicate, rename (209), delete, and inherited entries at a site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

BY_ENDPOINT = {spec.endpoint: spec for spec in FEATURES}
CASES = [
    ("default-documents", "files", {"name": "test_file"}, {"name": "test_file2"}, 409),
    ("static-content", "mime-maps", {"file_extension": "tst9", "mime_type": "test/test"},
     {"file_extension": "tst8"}, 409),
    ("http-response-headers", "custom-headers", {"name": "X-Test", "value": "1"}, {"value": "2"}, 409),
    ("http-response-headers", "redirect-headers", {"name": "X-Redirect", "value": ""}, {"name": "X-R2"}, 409),
    ("http-request-filtering", "file-extensions", {"extension": "test_ext"}, {"extension": "test_ext-new"}, 409),
    ("http-request-filtering", "http-headers", {"header": "test_header", "size_limit": 64}, {"size_limit": 65}, 409),
    ("http-request-filtering", "hidden-segments", {"segment": "test_h_segment"}, None, 409),
    ("authorization", "rules", {"users": "test_u", "roles": "test_r", "verbs": "test_v", "access_type": "deny"},
     {"users": "test_u2"}, 409),
    ("ip-restrictions", "entries", {"ip_address": "127.255.255.254", "allowed": False}, {"allowed": True}, 409),
    ("http-handlers", "entries", {"name": "test_handler", "path": "*.test", "verbs": "*", "modules": "X",
                                  "require_access": "script", "precondition": "integratedMode"},
     {"name": "test_handler2", "verbs": "GET", "resource_type": "file"}, 409),
    ("http-modules", "entries", {"name": "test_managed_module", "type": "test.managed.module"},
     {"precondition": "managedHandler"}, 409),
]


@pytest.mark.parametrize(("endpoint", "route", "create", "change", "duplicate"), CASES,
                         ids=[f"{c[0]}/{c[1]}" for c in CASES])
@pytest.mark.parametrize("scope", ["", "Feat/"])
async def test_entry_lifecycle(api: TestClient[Any, Any], content_dir: Path, endpoint: str, route: str,
                               create: dict[str, Any], change: dict[str, Any] | None, duplicate: int,
                               scope: str) -> None:
    spec = BY_ENDPOINT[endpoint]
    child = next(c for c in spec.children if c.route == route)
    await ensure_installed(api, spec)
    await make_site(api, content_dir)
    server = await feature_at(api, spec, "")
    if scope and server["metadata"]["override_mode_effective"] == "deny":
        await api.patch(f"{spec.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
    feature = await feature_at(api, spec, scope)
    link = feature["_links"][child.plural]["href"]
    created = await api.post(f"{spec.path}/{route}", json={**create, spec.parent_member: feature})
    assert created.status == child.created_status, await created.text()
    entry = await created.json()
    assert entry[spec.parent]["scope"] == feature["scope"]  # the id may change: it embeds is_local
    listed = await (await api.get(link)).json()
    assert entry["id"] in [item["id"] for item in listed[child.plural]]
    again = await api.post(f"{spec.path}/{route}", json={**create, spec.parent_member: feature})
    assert again.status == duplicate
    entry_id = entry["id"]
    if change is not None:
        patched = await api.patch(f"{spec.path}/{route}/{entry_id}", json=change)
        assert patched.status in (200, 209), await patched.text()
        body = await patched.json()
        for key, value in change.items():
            assert body[key] == value
        if patched.status == 209:
            assert patched.headers["Location"].endswith(body["id"])
            assert (await api.get(f"{spec.path}/{route}/{entry_id}")).status == 404
        entry_id = body["id"]
    assert (await api.get(f"{spec.path}/{route}/{entry_id}")).status == 200
    assert (await api.delete(f"{spec.path}/{route}/{entry_id}")).status == 204
    assert (await api.get(f"{spec.path}/{route}/{entry_id}")).status == 404
    assert (await api.delete(f"{spec.path}/{route}/{entry_id}")).status == 204


async def test_children_need_their_parent(api: TestClient[Any, Any]) -> None:
    spec = BY_ENDPOINT["default-documents"]
    assert (await api.get(f"{spec.path}/files")).status == 404
    missing = await api.post(f"{spec.path}/files", json={"name": "x.htm"})
    assert missing.status == 400 and (await missing.json())["name"] == "default_document"


async def test_default_document_goes_first_and_site_removal_writes_remove(
    api: TestClient[Any, Any], content_dir: Path
) -> None:
    spec = BY_ENDPOINT["default-documents"]
    await make_site(api, content_dir)
    site = await feature_at(api, spec, "Feat")
    created = await api.post(f"{spec.path}/files", json={"name": "first.htm", "default_document": site})
    assert created.status == 201
    files = (await (await api.get(site["_links"]["files"]["href"])).json())["files"]
    assert files[0]["name"] == "first.htm" and len(files) == 6
    inherited = next(f for f in files if f["name"] == "index.html")
    assert (await api.delete(f"{spec.path}/files/{inherited['id']}")).status == 204
    names = [f["name"] for f in (await (await api.get(site["_links"]["files"]["href"])).json())["files"]]
    assert "index.html" not in names
    server = await feature_at(api, spec, "")
    server_names = [f["name"] for f in (await (await api.get(server["_links"]["files"]["href"])).json())["files"]]
    assert "index.html" in server_names and "first.htm" not in server_names


async def test_native_module_must_be_global(api: TestClient[Any, Any]) -> None:
    spec = BY_ENDPOINT["http-modules"]
    server = await feature_at(api, spec, "")
    unknown = await api.post(f"{spec.path}/entries", json={"name": "NoSuchModule", "modules": server})
    assert unknown.status == 404
    glob = await api.post("/api/webserver/global-modules", json={"name": "test_native_module",
                                                                 "image": "%windir%\\System32\\inetsrv\\cachuri.dll"})
    assert glob.status == 201
    entry = await api.post(f"{spec.path}/entries", json={"name": "test_native_module", "type": "", "modules": server})
    assert entry.status == 201, await entry.text()
    entry_body = await entry.json()
    assert (await api.delete(f"{spec.path}/entries/{entry_body['id']}")).status == 204
    glob_body = await glob.json()
    listed = await (await api.get("/api/webserver/global-modules")).json()
    assert glob_body["id"] in [m["id"] for m in listed["global_modules"]]
    assert (await api.delete(f"/api/webserver/global-modules/{glob_body['id']}")).status == 204
    assert (await api.get(f"/api/webserver/global-modules/{glob_body['id']}")).status == 404
