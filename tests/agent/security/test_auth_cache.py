"""The token cache: one PBKDF2 per token, yet a deleted, renewed or expired key fails on the next request."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.keys import KEY_STORE
from agent.security.api_key_store import ApiKeyStore
from shared.dates import utcnow
from tests.conftest import ClientFactory

PATH = "/api/webserver/websites"


def _headers(token: str) -> dict[str, str]:
    return {"Access-Token": f"Bearer {token}"}


async def _client(aiohttp_client: ClientFactory, agent_app: Any) -> TestClient[Any, Any]:
    return await aiohttp_client(agent_app)


async def test_cached_token_costs_one_hash_and_dies_with_its_key(
    aiohttp_client: ClientFactory, agent_app: Any, state_dir: Path
) -> None:
    client = await _client(aiohttp_client, agent_app)
    store = agent_app[KEY_STORE]
    hashes = 0
    real_hash = store.hasher.hash

    async def counting(token: str) -> str | None:
        nonlocal hashes
        hashes += 1
        return await real_hash(token)

    store.hasher.hash = counting  # type: ignore[method-assign]
    try:
        key, token = store.create("cache", None)
        for _ in range(5):
            assert (await client.get(PATH, headers=_headers(token))).status == 200
        assert hashes == 1
        # Deleted by another process (the CLI): the next request fails, no waiting for a cache to expire.
        assert ApiKeyStore(state_dir / "api-keys.json").delete(key.id)
        assert (await client.get(PATH, headers=_headers(token))).status == 403
    finally:
        del store.hasher.hash


async def test_renewed_key_drops_the_old_token_at_once(aiohttp_client: ClientFactory, agent_app: Any) -> None:
    client = await _client(aiohttp_client, agent_app)
    store = agent_app[KEY_STORE]
    key, token = store.create("renew", None)
    assert (await client.get(PATH, headers=_headers(token))).status == 200
    _key, new_token = store.renew(key.id)
    assert (await client.get(PATH, headers=_headers(token))).status == 403
    assert (await client.get(PATH, headers=_headers(new_token))).status == 200


async def test_cached_token_expires_with_its_key(aiohttp_client: ClientFactory, agent_app: Any) -> None:
    client = await _client(aiohttp_client, agent_app)
    _key, token = agent_app[KEY_STORE].create("short", utcnow() + timedelta(seconds=1.5))
    assert (await client.get(PATH, headers=_headers(token))).status == 200
    await asyncio.sleep(1.7)
    assert (await client.get(PATH, headers=_headers(token))).status == 403


async def test_key_deleted_by_the_agent_stops_working(api: TestClient[Any, Any], agent_app: Any) -> None:
    key, token = agent_app[KEY_STORE].create("victim", None)
    assert (await api.get(PATH, headers=_headers(token))).status == 200
    assert agent_app[KEY_STORE].delete(key.id)  # what DELETE /security/api-keys/{id} calls
    assert (await api.get(PATH, headers=_headers(token))).status == 403
