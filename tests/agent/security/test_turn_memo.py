"""The per-loop-turn memo of verified tokens: no re-hash within a turn, never older than a turn or a key change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.keys import KEY_STORE
from agent.security import api_key_store
from agent.security.api_key_store import ApiKey, ApiKeyStore
from shared.dates import utcnow

PATH = "/api/webserver/websites"


def _count_fingerprints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every token fingerprint the store computes (each one is a sha256: what the memo saves)."""
    seen: list[str] = []
    real = api_key_store.fingerprint

    def counting(token: str) -> str:
        seen.append(token)
        return real(token)

    monkeypatch.setattr(api_key_store, "fingerprint", counting)
    return seen


async def _next_turn() -> None:
    # The gate's reset was scheduled in this turn, so it runs before this task resumes.
    await asyncio.sleep(0)


async def test_a_token_is_verified_once_per_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("memo", None)
    assert store.verify(token) == key  # hashed and cached by fingerprint
    await _next_turn()
    fingerprints = _count_fingerprints(monkeypatch)
    assert store.verify(token) == key
    assert len(fingerprints) == 1  # first request of the turn: the fingerprint cache
    for _ in range(5):
        assert store.verify(token) == key
        assert store.cached(token) == key
    assert len(fingerprints) == 1  # the rest of the turn: the memo
    await _next_turn()
    assert store.verify(token) == key
    assert len(fingerprints) == 2  # a new turn starts from the fingerprint cache again


async def test_expiry_is_seen_by_the_next_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("short", utcnow() + timedelta(minutes=5))
    assert store.verify(token) == key
    assert store.verify(token) == key  # now memoised for this turn
    later = utcnow() + timedelta(minutes=10)
    monkeypatch.setattr(api_key_store, "utcnow", lambda: later)
    # The memo does not re-check expiry within the turn that verified the token (by design, one turn) ...
    assert store.cached(token) == key
    await _next_turn()
    # ... and the very next turn refuses it, memo or not.
    assert store.cached(token) is None
    assert store.verify(token) is None


async def test_deletion_by_another_process_is_seen_by_the_next_turn(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("victim", None)
    assert store.verify(token) == key
    assert store.verify(token) == key
    assert ApiKeyStore(tmp_path / "api-keys.json").delete(key.id)  # the CLI, say
    await _next_turn()
    assert store.verify(token) is None


def _renew(store: ApiKeyStore, key: ApiKey) -> None:
    store.renew(key.id)


def _expire(store: ApiKeyStore, key: ApiKey) -> None:
    store.update(key.id, expires_on=utcnow() - timedelta(seconds=1))


def _delete(store: ApiKeyStore, key: ApiKey) -> None:
    assert store.delete(key.id)


@pytest.mark.parametrize("change", [_renew, _expire, _delete], ids=["renew", "update-expiry", "delete"])
async def test_a_change_by_this_process_empties_the_memo_at_once(
    tmp_path: Path, change: Callable[[ApiKeyStore, ApiKey], None]
) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("victim", None)
    assert store.verify(token) == key
    assert store.verify(token) == key  # memoised for this turn
    change(store, key)
    # Same turn, no await in between: the memo must not answer for the changed key.
    assert store.cached(token) is None
    assert store.verify(token) is None


@pytest.mark.parametrize("readonly", [False, True], ids=["file-key", "settings-key"])
async def test_a_change_to_any_key_empties_the_memo(tmp_path: Path, readonly: bool) -> None:
    settings_keys: list[dict[str, Any]] = []
    if readonly:
        settings_keys = [ApiKeyStore(tmp_path / "scratch.json").create("settings", None)[0].to_json()]
    store = ApiKeyStore(tmp_path / "api-keys.json", settings_keys)
    key, token = store.create("memo", None)
    target = next(k for k in store.list() if k.read_only) if readonly else store.create("target", None)[0]
    changes: list[Callable[[], object]] = [
        lambda: store.create("another", None),
        lambda: store.update(target.id, purpose="renamed"),
        lambda: store.update(target.id, expires_on=datetime(2100, 1, 1).astimezone()),
        lambda: store.renew(target.id),
        lambda: store.delete(target.id),
    ]
    for change in changes:
        assert store.verify(token) == key
        assert store.verify(token) == key
        assert store._turn  # memoised  # noqa: SLF001 - the memo is what this test is about
        change()
        assert not store._turn  # noqa: SLF001
        await _next_turn()


async def test_a_revoked_key_is_refused_by_the_next_request(aiohttp_client: Any, agent_app: Any) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(agent_app)
    store = agent_app[KEY_STORE]
    key, token = store.create("revoked", None)
    headers = {"Access-Token": f"Bearer {token}"}
    # Many requests at once: several are read in one loop turn and share the memo.
    answers = await asyncio.gather(*(client.get(PATH, headers=headers) for _ in range(20)))
    assert [answer.status for answer in answers] == [200] * 20
    store.update(key.id, expires_on=utcnow() - timedelta(seconds=1))
    assert (await client.get(PATH, headers=headers)).status == 403
    _key, token = store.create("deleted", None)
    headers = {"Access-Token": f"Bearer {token}"}
    answers = await asyncio.gather(*(client.get(PATH, headers=headers) for _ in range(20)))
    assert [answer.status for answer in answers] == [200] * 20
    assert store.delete(_key.id)
    assert (await client.get(PATH, headers=headers)).status == 403
