"""Dotted `fields=` on every nested reference: the referenced model narrowed to the sub-fields (upstream's
`ToJsonModelRef(x, fields.Filter(name))`), the reference form otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.http import FieldSelection

SITES = "/api/webserver/websites"
WEBAPPS = "/api/webserver/webapps"
VDIRS = "/api/webserver/virtual-directories"


async def _json(api: TestClient[Any, Any], url: str) -> dict[str, Any]:
    response = await api.get(url)
    assert response.status in (200, 209), await response.text()
    return dict(await response.json())


async def _site_with_app(api: TestClient[Any, Any], content_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    binding = {"ip_address": "*", "port": 8383, "protocol": "http"}
    made = await api.post(SITES, json={"name": "Nest", "physical_path": str(content_dir), "bindings": [binding]})
    assert made.status == 201, await made.text()
    (content_dir / "app").mkdir()
    app = await api.post(WEBAPPS, json={"path": "/app", "physical_path": str(content_dir / "app"),
                                        "website": {"id": (await made.json())["id"]}})  # fmt: skip
    assert app.status == 201, await app.text()
    return dict(await made.json()), dict(await app.json())


def test_selection_parses_dots_stars_and_case() -> None:
    parsed = FieldSelection("*, Application_Pool.Identity ,application_pool.auto_start,website.*")
    assert parsed.all
    pool = parsed.sub("application_pool")
    assert pool is not None and pool.names(["name", "id", "identity", "auto_start"], ()) == ["id", "identity",
                                                                                            "auto_start"]
    site = parsed.sub("website")
    assert site is not None and site.all
    assert FieldSelection("application_pool").sub("application_pool") is None  # no sub-fields: the reference


async def test_site_application_pool_sub_fields(api: TestClient[Any, Any], content_dir: Path) -> None:
    site, _app = await _site_with_app(api, content_dir)
    body = await _json(api, f"{SITES}/{site['id']}?fields=*,application_pool.identity,application_pool.auto_start")
    pool = body["application_pool"]
    assert set(pool) == {"id", "identity", "auto_start", "_links"}
    assert pool["identity"]["identity_type"] == "ApplicationPoolIdentity" and pool["auto_start"] is True
    assert list(pool["_links"]) == ["self"]
    assert body["bindings"] and body["name"] == "Nest"  # `*` still renders the site itself whole
    plain = await _json(api, f"{SITES}/{site['id']}")
    assert set(plain["application_pool"]) == {"name", "id", "status", "_links"}
    everything = await _json(api, f"{SITES}/{site['id']}?fields=application_pool.*")
    assert {"name", "status", "recycling", "cpu", "process_model"} <= set(everything["application_pool"])


async def test_webapp_and_vdir_nested_references(api: TestClient[Any, Any], content_dir: Path) -> None:
    site, app = await _site_with_app(api, content_dir)
    body = await _json(api, f"{WEBAPPS}/{app['id']}?fields=path,website.bindings,website.name,"
                            "application_pool.pipeline_mode")  # fmt: skip
    assert body["website"]["bindings"][0]["port"] == 8383 and body["website"]["name"] == "Nest"
    assert "status" not in body["website"] and body["application_pool"]["pipeline_mode"] == "integrated"
    listed = await _json(api, f"{VDIRS}?website.id={site['id']}&fields=path,website.bindings,webapp.physical_path")
    assert len(listed["virtual_directories"]) == 2
    for vdir in listed["virtual_directories"]:
        assert vdir["website"]["bindings"][0]["protocol"] == "http"
        assert vdir["webapp"]["physical_path"] in (str(content_dir), str(content_dir / "app"))
    one = listed["virtual_directories"][0]["id"]
    default = await _json(api, f"{VDIRS}/{one}")
    assert set(default["website"]) == {"name", "id", "status", "_links"}
    assert set(default["webapp"]) == {"location", "id", "path", "_links"}


async def test_pool_filtered_lists_and_feature_website(api: TestClient[Any, Any], content_dir: Path) -> None:
    site, _app = await _site_with_app(api, content_dir)
    listed = await _json(api, f"{SITES}?fields=name,application_pool.managed_runtime_version")
    assert all("managed_runtime_version" in s["application_pool"] for s in listed["websites"])
    feature = await _json(api, f"/api/webserver/directory-browsing?website.id={site['id']}&fields=website.key")
    assert feature["website"]["key"] == site["key"] and "name" not in feature["website"]


async def test_file_references(api: TestClient[Any, Any], content_dir: Path) -> None:
    site, _app = await _site_with_app(api, content_dir)
    root = await _json(api, site["_links"]["files"]["href"] + "?fields=name,file_info.claims,file_info.exists")
    assert set(root["file_info"]) == {"id", "claims", "exists", "_links"} and root["file_info"]["exists"] is True
    app_dir = await _json(api, f"/api/files/{root['file_info']['id']}?fields=name,parent.type,parent.physical_path")
    assert set(app_dir["parent"]) == {"id", "type", "physical_path", "_links"}
    assert app_dir["parent"]["physical_path"] == str(content_dir.parent) and app_dir["parent"]["type"] == "directory"
    plain = await _json(api, f"/api/files/{root['file_info']['id']}")
    assert "claims" not in plain["parent"]
