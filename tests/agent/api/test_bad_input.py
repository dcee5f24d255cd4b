"""Bad input gets a clear 4xx with the upstream error shape, never a 500."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

WRITE_ROUTES = (
    ("POST", "/api/webserver/websites"),
    ("POST", "/api/webserver/application-pools"),
    ("POST", "/api/webserver/webapps"),
    ("POST", "/api/webserver/virtual-directories"),
)


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
async def test_malformed_json(api: TestClient[Any, Any], method: str, path: str) -> None:
    response = await api.request(method, path, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status == 400
    body = await response.json()
    assert body["title"] == "Invalid parameter" and body["status"] == 400


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
async def test_null_body_is_415(api: TestClient[Any, Any], method: str, path: str) -> None:
    response = await api.request(method, path, data=b"null", headers={"Content-Type": "application/json"})
    assert response.status == 415
    assert response.headers["Accept-Patch"] == "application/json;charset=utf-8"


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
async def test_array_body_and_wrong_types(api: TestClient[Any, Any], method: str, path: str) -> None:
    assert (await api.request(method, path, json=[1, 2])).status == 400
    response = await api.request(method, path, json={"name": 5, "path": 7, "physical_path": 9, "bindings": "x"})
    assert 400 <= response.status < 500


async def test_body_over_limit_is_413(api: TestClient[Any, Any]) -> None:
    huge = b'{"name": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    response = await api.post("/api/webserver/application-pools", data=io.BytesIO(huge),
                              headers={"Content-Type": "application/json"})
    assert response.status == 413


async def test_unknown_ids_are_404(api: TestClient[Any, Any]) -> None:
    for path in ("/api/webserver/websites/AAAA", "/api/webserver/webapps/zzzz",
                 "/api/webserver/virtual-directories/abc", "/api/webserver/application-pools/!!"):
        response = await api.get(path)
        assert response.status == 404, path
        assert (await response.json())["title"] == "Not found"


async def test_traversal_in_physical_path_is_refused(api: TestClient[Any, Any], content_dir: Path) -> None:
    for candidate in ("/etc", f"{content_dir}/../../../../../etc", "%SystemDrive%\\..\\..", "..\\..\\windows"):
        response = await api.post("/api/webserver/websites", json={
            "name": "evil", "physical_path": candidate,
            "bindings": [{"ip_address": "*", "port": 8300, "protocol": "http"}]})
        assert response.status in (400, 403), candidate
    listed = await (await api.get("/api/webserver/websites")).json()
    assert "evil" not in [s["name"] for s in listed["websites"]]


async def test_unknown_route_and_method(api: TestClient[Any, Any]) -> None:
    assert (await api.get("/api/nope")).status == 404
    assert (await api.put("/api/webserver/websites")).status in (404, 405)
