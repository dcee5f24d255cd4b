"""Websites: create, read, update, delete, bindings and the upstream status codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.app import build_app
from agent.ids import Purpose
from agent.keys import ID_CODEC
from agent.settings import load_settings

SITES = "/api/webserver/websites"


async def _create(api: TestClient[Any, Any], content_dir: Path, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Demo",
        "physical_path": str(content_dir),
        "bindings": [{"ip_address": "*", "port": "8081", "protocol": "http"}],
        **extra,
    }
    response = await api.post(SITES, json=body)
    assert response.status == 201, await response.text()
    site: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"{SITES}/{site['id']}"
    return site


async def test_stock_configuration_has_default_web_site(api: TestClient[Any, Any]) -> None:
    response = await api.get(SITES)
    assert response.status == 200
    body = await response.json()
    assert [s["name"] for s in body["websites"]] == ["Default Web Site"]
    assert response.headers["X-Total-Count"] == "1"
    site = body["websites"][0]
    assert set(site) == {"name", "id", "status", "_links"}
    assert site["status"] == "unknown"  # no host backend runs in this test: never a fake "started"


async def test_create_get_and_delete(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    assert site["key"] == 2
    assert site["physical_path"] == str(content_dir)
    assert site["bindings"] == [
        {"protocol": "http", "binding_information": "*:8081:", "ip_address": "*", "port": 8081, "hostname": ""}
    ]
    assert site["application_pool"]["name"] == "DefaultAppPool"
    assert site["limits"] == {"connection_timeout": 120, "max_bandwidth": 4294967295,
                              "max_connections": 4294967295, "max_url_segments": 32}
    assert set(site["_links"]) >= {"self", "webapps", "vdirs"}
    got = await api.get(f"{SITES}/{site['id']}")
    assert got.status == 200
    assert (await got.json())["name"] == "Demo"
    assert (await api.delete(f"{SITES}/{site['id']}")).status == 204
    assert (await api.get(f"{SITES}/{site['id']}")).status == 404
    assert (await api.delete(f"{SITES}/{site['id']}")).status == 204  # deleting again is still 204


async def test_ids_are_stable_across_restarts(api: TestClient[Any, Any], content_dir: Path, state_dir: Path) -> None:
    site = await _create(api, content_dir)
    restarted = build_app(state_dir, load_settings(state_dir / "appsettings.json"))
    assert restarted[ID_CODEC].encode(Purpose.SITE, str(site["key"])) == site["id"]


async def test_fields_selection(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    one = await (await api.get(f"{SITES}/{site['id']}?fields=name,application_pool.name")).json()
    assert set(one) == {"id", "name", "application_pool", "_links"}
    assert set(one["application_pool"]) == {"name", "id", "_links"}
    listed = await (await api.get(f"{SITES}?fields=key")).json()
    assert all(set(s) == {"id", "key", "_links"} for s in listed["websites"])


async def test_no_links_without_hal(api: TestClient[Any, Any]) -> None:
    body = await (await api.get(SITES, headers={"Accept": "application/json"})).json()
    assert "_links" not in body["websites"][0]


async def test_create_with_key_and_duplicate_key_and_name(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir, key=99722)
    assert site["key"] == 99722
    clash = await api.post(SITES, json={"name": "Other", "physical_path": str(content_dir), "key": 99722,
                                        "bindings": [{"ip_address": "*", "port": 8082, "protocol": "http"}]})
    assert clash.status == 409
    assert (await clash.json())["name"] == "key"
    same_name = await api.post(SITES, json={"name": "demo", "physical_path": str(content_dir),
                                            "bindings": [{"ip_address": "*", "port": 8083, "protocol": "http"}]})
    assert same_name.status == 409
    assert (await same_name.json())["name"] == "name"


async def test_patch_changes_key_answers_209(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    response = await api.patch(f"{SITES}/{site['id']}", json={"key": 42})
    assert response.status == 209
    body = await response.json()
    assert body["key"] == 42
    assert response.headers["Location"] == f"{SITES}/{body['id']}"
    assert body["id"] != site["id"]


async def test_patch_whole_object_round_trips(api: TestClient[Any, Any], content_dir: Path, state_dir: Path) -> None:
    site = await _create(api, content_dir)
    other = state_dir / "inetpub" / "other"
    other.mkdir()
    site["server_auto_start"] = not site["server_auto_start"]
    site["physical_path"] = str(other)
    site["enabled_protocols"] = "https"
    site["limits"] = {k: v - 1 for k, v in site["limits"].items()}
    site["bindings"] = [
        {"port": 63014, "ip_address": "40.3.5.15", "hostname": "testhostname", "protocol": "http"},
        {"binding_information": "128.0.3.5:63015:def", "protocol": "http"},
        {"binding_information": "35808:*", "protocol": "net.tcp"},
        {"binding_information": "*", "protocol": "net.pipe"},
    ]
    response = await api.patch(f"{SITES}/{site['id']}", json=site)
    assert response.status == 200, await response.text()
    body = await response.json()
    for member in ("server_auto_start", "physical_path", "enabled_protocols", "limits"):
        assert body[member] == site[member]
    assert body["bindings"] == [
        {"protocol": "http", "binding_information": "40.3.5.15:63014:testhostname", "ip_address": "40.3.5.15",
         "port": 63014, "hostname": "testhostname"},
        {"protocol": "http", "binding_information": "128.0.3.5:63015:def", "ip_address": "128.0.3.5",
         "port": 63015, "hostname": "def"},
        {"protocol": "net.tcp", "binding_information": "35808:*"},
        {"protocol": "net.pipe", "binding_information": "*"},
    ]


async def test_binding_conflicts_and_rejections(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    url = f"{SITES}/{site['id']}"
    twice = [{"ip_address": "*", "port": 8090, "protocol": "http"}] * 2
    assert (await api.patch(url, json={"bindings": twice})).status == 409
    tcp = [{"binding_information": "35808:*", "protocol": "net.tcp"}] * 2
    assert (await api.patch(url, json={"bindings": tcp})).status == 409
    for bad, name in (
        ({"ip_address": "*", "port": 80}, "binding.protocol"),
        ({"ip_address": "", "port": 80, "protocol": "http"}, "binding.ip_address"),
        ({"binding_information": ":80:", "protocol": "http"}, "binding.binding_information"),
        ({"binding_information": "127.0.4.3::", "protocol": "http"}, "binding.binding_information"),
    ):
        response = await api.patch(url, json={"bindings": [bad]})
        assert response.status == 400, bad
        assert (await response.json())["name"] == name
    out_of_range = await api.patch(url, json={"bindings": [{"ip_address": "*", "port": 70000, "protocol": "http"}]})
    assert out_of_range.status == 400
    assert (await out_of_range.json())["title"] == "Out of range"


async def test_limits_out_of_range_names_the_member(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    response = await api.patch(f"{SITES}/{site['id']}", json={"limits": {"connection_timeout": 70000}})
    assert response.status == 400
    body = await response.json()
    assert body == {"title": "Out of range", "name": "limits.connection_timeout",
                    "detail": "Value must be between 0 and 65535 inclusive.", "min_value": 0, "max_value": 65535,
                    "status": 400}


async def test_physical_path_rules(api: TestClient[Any, Any], content_dir: Path, tmp_path: Path) -> None:
    site = await _create(api, content_dir)
    url = f"{SITES}/{site['id']}"
    outside = tmp_path / "outside"
    outside.mkdir()
    forbidden = await api.patch(url, json={"physical_path": str(outside)})
    assert forbidden.status == 403
    assert await forbidden.json() == {"title": "Forbidden", "name": "physical_path", "detail": str(outside),
                                      "status": 403}
    traversal = await api.patch(url, json={"physical_path": f"{content_dir}/../../../../etc"})
    assert traversal.status == 400
    relative = await api.patch(url, json={"physical_path": "relative/dir"})
    assert relative.status == 400
    missing = await api.patch(url, json={"physical_path": str(content_dir / "nope")})
    assert missing.status == 404
    link = content_dir / "escape"
    link.symlink_to(outside)
    assert (await api.patch(url, json={"physical_path": str(link)})).status == 403


async def test_filter_by_application_pool(api: TestClient[Any, Any], content_dir: Path) -> None:
    pool = await (await api.post("/api/webserver/application-pools", json={"name": "isolated"})).json()
    site = await _create(api, content_dir, application_pool={"id": pool["id"]})
    listed = await (await api.get(f"{SITES}?application_pool.id={pool['id']}")).json()
    assert [s["id"] for s in listed["websites"]] == [site["id"]]


async def test_state_changes_without_a_host_answer_503(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    response = await api.patch(f"{SITES}/{site['id']}", json={"status": "stopped", "server_auto_start": False})
    assert response.status == 503
    assert "host" in (await response.json())["detail"]
    after = await (await api.get(f"{SITES}/{site['id']}")).json()
    assert after["server_auto_start"] is True  # nothing was saved


async def test_head_returns_no_body(api: TestClient[Any, Any]) -> None:
    response = await api.head(SITES)
    assert response.status == 200
    assert await response.read() == b""


async def test_files_link_opens_the_site_root(api: TestClient[Any, Any], content_dir: Path) -> None:
    site = await _create(api, content_dir)
    root = await api.get(site["_links"]["files"]["href"])
    assert root.status == 200, await root.text()
    assert (await root.json())["path"] == "/"
