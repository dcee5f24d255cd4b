"""The security area: API keys, access tokens and the XSRF handshake."""

from __future__ import annotations

from typing import Any

from agent.security.api_key_store import ApiKey
from agent.security.tokens import secret_part
from tests.agent.security.conftest import Client, bearer, store_of

HAL = {"Accept": "application/hal+json"}


async def handshake(client: Client, token: str, path: str = "/security/api-keys") -> dict[str, str]:
    """GET for an XSRF pair; the cookie stays in the client's jar. Returns headers for the next call."""
    response = await client.get(path, headers=bearer(token))
    assert response.status in (200, 204)
    assert "XSRF-TOKEN" in response.cookies or client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {**bearer(token), "XSRF-TOKEN": response.headers["XSRF-TOKEN"]}


async def create_key(client: Client, token: str, body: dict[str, Any]) -> Any:
    """POST /security/api-keys with a fresh XSRF pair."""
    headers = await handshake(client, token)
    return await client.post("/security/api-keys", json=body, headers={**headers, **HAL})


async def test_list_issues_xsrf_cookie(client: Client, admin: tuple[ApiKey, str]) -> None:
    response = await client.get("/security/api-keys", headers={**bearer(admin[1]), **HAL})
    assert response.status == 200
    assert response.headers["X-Total-Count"] == "1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("XSRF-TOKEN=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert response.cookies["XSRF-TOKEN"].value != response.headers["XSRF-TOKEN"]
    body = await response.json(content_type=None)
    item = body["api_keys"][0]
    assert item["id"] == admin[0].id and item["expires_on"] == ""
    assert item["_links"] == {
        "access_token": {"href": f"/security/access-tokens/{admin[0].id}"},
        "self": {"href": f"/security/api-keys/{admin[0].id}"},
    }
    assert "access_token" not in item
    # Without HAL there are no links; an existing valid cookie is reused.
    again = await client.get("/security/api-keys", headers=bearer(admin[1]))
    assert "_links" not in (await again.json(content_type=None))["api_keys"][0]
    assert "Set-Cookie" not in again.headers


async def test_create_requires_xsrf(client: Client, admin: tuple[ApiKey, str]) -> None:
    response = await client.post("/security/api-keys", json={"expires_on": ""}, headers=bearer(admin[1]))
    assert response.status == 400
    assert await response.json(content_type=None) == {
        "title": "Bad Request",
        "detail": "XSRF token missing or invalid",
        "status": 400,
    }


async def test_create_with_pair(client: Client, admin: tuple[ApiKey, str]) -> None:
    response = await create_key(client, admin[1], {"purpose": "deploy", "expires_on": None})
    assert response.status == 201
    body = await response.json(content_type=None)
    assert response.headers["Location"] == f"/security/api-keys/{body['id']}"
    assert len(body["access_token"]) == 54 and body["purpose"] == "deploy" and body["expires_on"] == ""
    assert body["created_on"].endswith("Z")
    assert (await client.get("/api/things", headers=bearer(body["access_token"]))).status == 200
    stored = store_of(client).path.read_bytes()
    assert body["access_token"].encode() not in stored
    assert secret_part(body["access_token"]).encode() not in stored


async def test_create_needs_expires_on(client: Client, admin: tuple[ApiKey, str]) -> None:
    response = await create_key(client, admin[1], {"purpose": "x"})
    assert response.status == 400
    assert (await response.json(content_type=None))["name"] == "expires_on"
    bad = await create_key(client, admin[1], {"expires_on": "tomorrow"})
    assert bad.status == 400


async def test_pair_of_another_identity_is_rejected(client: Client, admin: tuple[ApiKey, str]) -> None:
    _, other = store_of(client).create("other", None)
    headers = await handshake(client, other)
    headers.update(bearer(admin[1]))
    response = await client.post("/security/api-keys", json={"expires_on": ""}, headers=headers)
    assert response.status == 400


async def test_patch_and_delete(client: Client, admin: tuple[ApiKey, str]) -> None:
    created = await (await create_key(client, admin[1], {"expires_on": "2999-01-01T00:00:00Z"})).json(content_type=None)
    headers = await handshake(client, admin[1], f"/security/api-keys/{created['id']}")
    response = await client.patch(
        f"/security/api-keys/{created['id']}", json={"purpose": "renamed", "expires_on": ""}, headers=headers
    )
    assert response.status == 200
    body = await response.json(content_type=None)
    assert body["purpose"] == "renamed" and body["expires_on"] == "2999-01-01T00:00:00Z"
    assert (await client.patch("/security/api-keys/nope", json={}, headers=headers)).status == 404
    assert (await client.delete(f"/security/api-keys/{created['id']}", headers=headers)).status == 204
    assert (await client.delete("/security/api-keys/nope", headers=headers)).status == 204
    assert (await client.get("/api/things", headers=bearer(created["access_token"]))).status == 403
    assert (await client.get(f"/security/api-keys/{created['id']}", headers=bearer(admin[1]))).status == 404


async def test_api_access_token(client: Client, admin: tuple[ApiKey, str]) -> None:
    key, token = admin
    response = await client.get("/api/access-token", headers={**bearer(token), **HAL})
    body = await response.json(content_type=None)
    assert body == {
        "id": key.id,
        "expires_on": "",
        "type": "SWT",
        "api_key": {"purpose": "tests", "id": key.id, "_links": {"self": {"href": f"/security/api-keys/{key.id}"}}},
        "_links": {"self": {"href": "/api/access-token"}},
    }
    renewed = await client.post("/api/access-token", headers=bearer(token))
    assert renewed.status == 201
    assert renewed.headers["Location"] == "/api/access-token"
    new = (await renewed.json(content_type=None))["value"]
    assert (await client.get("/api/things", headers=bearer(token))).status == 403
    assert (await client.get("/api/things", headers=bearer(new))).status == 200


async def test_security_access_tokens(client: Client, admin: tuple[ApiKey, str]) -> None:
    _, victim_token = store_of(client).create("victim", None)
    victim = store_of(client).verify(victim_token)
    assert victim is not None
    handshake_response = await client.get("/security/access-tokens", headers=bearer(admin[1]))
    assert handshake_response.status == 204
    headers = {**bearer(admin[1]), "XSRF-TOKEN": handshake_response.headers["XSRF-TOKEN"]}
    info = await client.get(f"/security/access-tokens/{victim.id}", headers=bearer(admin[1]))
    assert (await info.json(content_type=None))["api_key"]["purpose"] == "victim"
    assert (await client.post("/security/access-tokens", json={}, headers=headers)).status == 400
    missing = await client.post("/security/access-tokens", json={"api_key": {"id": "nope"}}, headers=headers)
    assert missing.status == 404
    response = await client.post("/security/access-tokens", json={"api_key": {"id": victim.id}}, headers=headers)
    assert response.status == 201
    assert response.headers["Location"] == f"/security/access-tokens/{victim.id}"
    body = await response.json(content_type=None)
    assert body["id"] == victim.id and body["created_on"].endswith("Z")
    assert (await client.get("/api/things", headers=bearer(victim_token))).status == 403
    assert (await client.get("/api/things", headers=bearer(body["value"]))).status == 200
