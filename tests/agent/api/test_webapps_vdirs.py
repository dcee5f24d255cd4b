"""Web applications and virtual directories under a site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

SITES = "/api/webserver/websites"
WEBAPPS = "/api/webserver/webapps"
VDIRS = "/api/webserver/virtual-directories"


async def _site(api: TestClient[Any, Any], content_dir: Path) -> dict[str, Any]:
    response = await api.post(SITES, json={"name": "Apps", "physical_path": str(content_dir),
                                           "bindings": [{"ip_address": "*", "port": 8181, "protocol": "http"}]})
    assert response.status == 201
    return dict(await response.json())


async def test_webapp_lifecycle(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _site(api, content_dir)
    app_dir = content_dir / "app"
    app_dir.mkdir()
    created = await api.post(WEBAPPS, json={"path": "test_application", "physical_path": str(app_dir),
                                            "website": {"id": site["id"]}})
    assert created.status == 201, await created.text()
    app = await created.json()
    assert app["path"] == "/test_application"
    assert app["location"] == "Apps/test_application"
    assert app["website"]["id"] == site["id"]
    assert app["application_pool"]["name"] == "DefaultAppPool"
    assert set(app["_links"]) >= {"self", "vdirs"}
    listed = await (await api.get(f"{WEBAPPS}?website.id={site['id']}")).json()
    assert [a["path"] for a in listed["webapps"]] == ["/", "/test_application"]
    by_scope = await (await api.get(f"{WEBAPPS}?scope=Apps")).json()
    assert len(by_scope["webapps"]) == 2
    moved = await api.patch(f"{WEBAPPS}/{app['id']}", json={"path": "/moved"})
    assert moved.status == 209
    moved_body = await moved.json()
    assert (await api.get(f"{WEBAPPS}/{app['id']}")).status == 404
    assert (await api.delete(f"{WEBAPPS}/{moved_body['id']}")).status == 204
    assert (await api.get(f"{WEBAPPS}/{moved_body['id']}")).status == 404


async def test_webapp_rules(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _site(api, content_dir)
    assert (await api.get(WEBAPPS)).status == 404
    assert (await api.get(f"{WEBAPPS}?scope=Nope")).status == 400
    base = {"physical_path": str(content_dir), "website": {"id": site["id"]}}
    assert (await api.post(WEBAPPS, json={**base, "path": "/a"})).status == 201
    duplicate = await api.post(WEBAPPS, json={**base, "path": "/a"})
    assert duplicate.status == 409 and (await duplicate.json())["name"] == "path"
    assert (await api.post(WEBAPPS, json={"path": "/b", "physical_path": str(content_dir)})).status == 400
    assert (await api.post(WEBAPPS, json={**base})).status == 400
    preload = await api.post(WEBAPPS, json={**base, "path": "/c", "preload_enabled": "yes"})
    assert preload.status == 400 and (await preload.json())["name"] == "preload_enabled"


async def test_vdir_lifecycle(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _site(api, content_dir)
    images = content_dir / "images"
    images.mkdir()
    apps = await (await api.get(f"{WEBAPPS}?website.id={site['id']}")).json()
    root_app = apps["webapps"][0]
    created = await api.post(VDIRS, json={"path": "/test_vdir", "physical_path": str(images),
                                          "webapp": {"id": root_app["id"]},
                                          "identity": {"username": "reader", "password": "pw-secret-1",
                                                       "logon_method": "network"}})
    assert created.status == 201, await created.text()
    vdir = await created.json()
    assert vdir["location"] == "Apps/test_vdir"
    assert vdir["identity"] == {"username": "reader", "logon_method": "network"}
    assert vdir["webapp"]["id"] == root_app["id"]
    listed = await (await api.get(f"{VDIRS}?website.id={site['id']}")).json()
    assert sorted(v["path"] for v in listed["virtual_directories"]) == ["/", "/test_vdir"]
    renamed = await api.patch(f"{VDIRS}/{vdir['id']}", json={"path": "/pics"})
    assert renamed.status == 209
    new = await renamed.json()
    assert (await api.delete(f"{VDIRS}/{new['id']}")).status == 204
    assert (await api.get(f"{VDIRS}/{new['id']}")).status == 404


async def test_vdir_rules(api: TestClient[Any, Any], content_dir: Path, tmp_path: Path) -> None:
    site = await _site(api, content_dir)
    parent = {"website": {"id": site["id"]}}
    missing_dir = await api.post(VDIRS, json={**parent, "path": "/x", "physical_path": str(content_dir / "no")})
    assert missing_dir.status == 400
    outside = await api.post(VDIRS, json={**parent, "path": "/x", "physical_path": str(tmp_path)})
    assert outside.status == 403
    no_parent = await api.post(VDIRS, json={"path": "/x", "physical_path": str(content_dir)})
    assert no_parent.status == 400 and (await no_parent.json())["name"] == "site/application"
    bad_identity = await api.post(VDIRS, json={**parent, "path": "/x", "physical_path": str(content_dir),
                                               "identity": "nope"})
    assert bad_identity.status == 400
    assert (await api.post(VDIRS, json={**parent, "path": "/x", "physical_path": str(content_dir)})).status == 201
    assert (await api.post(VDIRS, json={**parent, "path": "/X", "physical_path": str(content_dir)})).status == 409
