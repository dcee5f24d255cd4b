"""Access policies and the access-token check through the middleware stack."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from agent.security.api_key_store import ApiKey
from agent.security.tokens import new_token
from shared.dates import utcnow
from tests.agent.security.conftest import Client, ClientFactory, bearer, store_of

ROOT = Path(__file__).resolve().parents[3]
UNAUTHORIZED = {"title": "Unauthorized", "authentication_scheme": "Bearer", "status": 403}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Access-Token": "Bearer"},
        {"Access-Token": "Token abc"},
        {"Access-Token": "Bearer not-a-token"},
        {"Access-Token": f"Bearer {new_token()}"},
        {"Authorization": "Negotiate abc"},
    ],
)
async def test_bad_token_is_403_bearer(client: Client, headers: dict[str, str]) -> None:
    response = await client.get("/api/things", headers=headers)
    assert response.status == 403
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await response.json(content_type=None) == UNAUTHORIZED


async def test_expired_token_is_403(client: Client) -> None:
    _, token = store_of(client).create("old", utcnow() - timedelta(seconds=1))
    response = await client.get("/api/things", headers=bearer(token))
    assert response.status == 403


async def test_valid_token_is_the_identity(client: Client, admin: tuple[ApiKey, str]) -> None:
    key, token = admin
    response = await client.get("/api/things", headers={"Access-Token": f"  bEaReR   {token}  "})
    assert response.status == 200
    assert (await response.json(content_type=None))["caller"] == key.id


async def test_authorization_bearer_fallback(client: Client, admin: tuple[ApiKey, str]) -> None:
    response = await client.get("/api/things", headers={"Authorization": f"Bearer {admin[1]}"})
    assert response.status == 200
    # Access-Token wins when both are present.
    both = {"Authorization": f"Bearer {admin[1]}", "Access-Token": "Bearer nope"}
    assert (await client.get("/api/things", headers=both)).status == 403


async def test_public_paths_need_no_token(client: Client) -> None:
    assert (await client.get("/api/ping")).status == 200
    assert (await client.options("/api/things")).status == 204


async def test_security_area_needs_a_token_here(client: Client) -> None:
    # Upstream's api_keys policy relies on Windows authentication; without it a token is required.
    response = await client.get("/security/api-keys")
    assert response.status == 403
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_read_only_policy(make_client: ClientFactory) -> None:
    client = await make_client(
        security={"require_windows_authentication": False, "access_policy": {"api": {"read_only": True}}}
    )
    _, token = store_of(client).create("ro", None)
    assert (await client.get("/api/things", headers=bearer(token))).status == 200
    response = await client.post("/api/things", json={"a": 1}, headers=bearer(token))
    assert response.status == 405
    assert await response.read() == b""


async def test_forbidden_policy_wins(make_client: ClientFactory) -> None:
    client = await make_client(
        security={"require_windows_authentication": False, "access_policy": {"system": {"forbidden": True}}}
    )
    _, token = store_of(client).create("x", None)
    for headers in ({}, bearer(token)):
        response = await client.get("/api/files/locations", headers=headers)
        assert response.status == 403
        assert await response.read() == b""
    assert (await client.get("/api/things", headers=bearer(token))).status == 200


async def test_failures_are_logged_without_the_token(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    token = new_token()
    with caplog.at_level("INFO", logger="iisfleet.agent.security"):
        await client.get("/api/things", headers=bearer(token))
    assert "/api/things" in caplog.text
    assert token not in caplog.text


async def test_key_from_another_process_accepted_at_once(client: Client, admin: tuple[ApiKey, str]) -> None:
    path = store_of(client).path
    code = (
        "import sys; from pathlib import Path; from agent.security.api_key_store import ApiKeyStore; "
        "print(ApiKeyStore(Path(sys.argv[1])).create('cli', None)[1])"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(path), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    token = out.decode().strip()
    assert len(token) == 54
    assert (await client.get("/api/things", headers=bearer(token))).status == 200
    assert (await client.get("/api/things", headers=bearer(admin[1]))).status == 200
