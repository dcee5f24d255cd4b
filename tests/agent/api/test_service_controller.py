"""The service controller and info without a host backend: status unknown, changes refused."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

PATH = "/api/webserver/service-controller"


async def test_get_reports_unknown_without_a_host(api: TestClient[Any, Any]) -> None:
    body = await (await api.get(PATH)).json()
    assert body["name"] == "World Wide Web Publishing Service" and body["service_name"] == "W3SVC"
    assert body["status"] == "unknown" and body["_links"] == {"self": {"href": PATH}}
    info = await (await api.get("/api/webserver/info")).json()
    assert info["status"] == "unknown"


async def test_patch_validates_and_refuses_without_a_host(api: TestClient[Any, Any]) -> None:
    bad = await api.patch(PATH, json={"status": "sideways"})
    assert bad.status == 400 and (await bad.json())["name"] == "status"
    refused = await api.patch(PATH, json={"status": "stopped"})
    assert refused.status == 503
    ignored = await api.patch(PATH, json={"status": "starting"})  # valid but not actionable: ignored
    assert ignored.status == 200


async def test_webserver_links(api: TestClient[Any, Any]) -> None:
    links = (await (await api.get("/api/webserver")).json())["_links"]
    for name in ("monitoring", "worker_processes", "service_controller", "request_monitor"):
        assert (await api.get(links[name]["href"])).status == 200, name
