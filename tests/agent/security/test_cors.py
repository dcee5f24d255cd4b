"""CORS: preflights, allowed origins and headers on error responses."""

from __future__ import annotations

from agent.security.api_key_store import ApiKey
from tests.agent.security.conftest import ORIGIN, Client, ClientFactory, bearer

PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "X-PINGOTHER, Access-Token",
}


async def test_preflight_from_allowed_origin(client: Client) -> None:
    response = await client.options("/api", headers=PREFLIGHT)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Headers"] == "X-PINGOTHER, Access-Token"
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]


async def test_preflight_from_unknown_origin_or_outside_api(client: Client) -> None:
    response = await client.options("/api/things", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert response.status == 204
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await client.options("/security/api-keys", headers=PREFLIGHT)
    assert response.status == 204
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_plain_options_lists_methods(client: Client) -> None:
    response = await client.options("/api/things")
    assert response.status == 204
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST", "OPTIONS"}


async def test_actual_response_and_error_get_cors_headers(client: Client, admin: tuple[ApiKey, str]) -> None:
    ok = await client.get("/api/things", headers={**bearer(admin[1]), "Origin": ORIGIN})
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    failed = await client.get("/api/things", headers={"Origin": ORIGIN})
    assert failed.status == 403
    assert failed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert failed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "WWW-Authenticate" in failed.headers["Access-Control-Expose-Headers"]
    assert "X-Total-Count" in failed.headers["Access-Control-Expose-Headers"]
    missing = await client.get("/api/nothing-here", headers={**bearer(admin[1]), "Origin": ORIGIN})
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = await client.get("/api/things", headers={**bearer(admin[1]), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_star_rule_echoes_origin(make_client: ClientFactory) -> None:
    client = await make_client(cors={"rules": [{"origin": "*", "allow": True}]})
    response = await client.options("/api", headers={**PREFLIGHT, "Origin": "https://any.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://any.example"


async def test_disallowed_rule_has_no_effect(make_client: ClientFactory) -> None:
    client = await make_client(cors={"rules": [{"origin": ORIGIN, "allow": False}]})
    response = await client.options("/api", headers=PREFLIGHT)
    assert response.status == 204
    assert "Access-Control-Allow-Origin" not in response.headers
