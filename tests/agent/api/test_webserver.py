"""The API root, the web server resource, info, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.routes import API_ROUTES


async def test_api_root(api: TestClient[Any, Any]) -> None:
    response = await api.get("/api")
    assert response.status == 200
    assert "json" in response.headers["Content-Type"]
    assert "Microsoft.WebServer.Api" in response.headers["Content-Type"]
    body = await response.json()
    assert body["host_name"] == "IIS Administration API"
    assert set(body["_links"]) == {"access_token", "certificates", "files", "webserver"}


async def test_root_many_times_on_one_connection(api: TestClient[Any, Any]) -> None:
    for _ in range(100):
        assert (await api.get("/api")).status == 200


async def test_webserver_and_info(api: TestClient[Any, Any]) -> None:
    server = await (await api.get("/api/webserver")).json()
    assert set(server["_links"]) >= {"self", "websites", "app_pools", "info"}
    by_id = await api.get(f"/api/webserver/{server['id']}")
    assert by_id.status == 200
    assert (await api.get("/api/webserver/not-the-id")).status == 404
    info = await (await api.get("/api/webserver/info")).json()
    assert info["id"] == server["id"]
    assert info["name"] == "Microsoft Internet Information Services"
    assert info["status"] == "unknown"


async def test_ping_needs_no_token(api: TestClient[Any, Any]) -> None:
    response = await api.get("/api/ping", headers={"Access-Token": ""})
    assert response.status == 200


async def test_openapi_lists_every_route(api: TestClient[Any, Any]) -> None:
    document = await (await api.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    for route in API_ROUTES:
        assert route.method.lower() in document["paths"][route.path], route.path
    create = document["paths"]["/api/webserver/websites"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["limits"]["properties"]["connection_timeout"]["maximum"] == 65535


async def test_openapi_needs_a_token(api: TestClient[Any, Any]) -> None:
    response = await api.get("/openapi.json", headers={"Access-Token": ""})
    assert response.status == 403
