"""ApiKeyStore: persistence, verification, expiry, cross-process writers."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from agent.security.keystore import ApiKeyStore
from agent.security.tokens import hash_token, new_token, secret_part
from shared.dates import utcnow

ROOT = Path(__file__).resolve().parents[3]


def test_create_verify_and_file_format(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("ci", None)
    assert store.verify(token) == key
    assert store.verify(new_token()) is None
    assert store.verify("garbage") is None
    data = (tmp_path / "api-keys.json").read_bytes()
    assert token.encode() not in data
    assert secret_part(token).encode() not in data
    entry = json.loads(data)["keys"][0]
    assert sorted(entry) == sorted(
        ["id", "purpose", "created_on", "last_modified", "expires_on", "token_hash", "token_type", "scope"]
    )
    assert entry["scope"] == "system"  # an IIS Fleet member (docs/compatibility.md); upstream ignores it
    assert entry["expires_on"] == ""
    assert entry["token_type"] == "SWT"
    assert entry["token_hash"] == hash_token(token)
    assert (tmp_path / "api-keys.json").stat().st_mode & 0o777 == 0o600


def test_reload_keeps_keys(tmp_path: Path) -> None:
    key, token = ApiKeyStore(tmp_path / "api-keys.json").create("ci", utcnow() + timedelta(hours=1))
    again = ApiKeyStore(tmp_path / "api-keys.json")
    assert again.verify(token) == key
    assert again.get(key.id) == key


def test_expired_key_rejected_even_when_cached(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("short", utcnow() + timedelta(hours=1))
    assert store.verify(token) is not None  # now cached
    store.update(key.id, expires_on=utcnow() - timedelta(seconds=1))
    assert store.verify(token) is None
    _, past = store.create("past", utcnow() - timedelta(seconds=1))
    assert store.verify(past) is None


def test_renew_and_delete_kill_tokens(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, old = store.create("ci", None)
    assert store.verify(old)
    renewed, new = store.renew(key.id)
    assert renewed.id == key.id and renewed.token_hash != key.token_hash
    assert store.verify(old) is None
    assert store.verify(new) is not None
    assert store.delete(key.id)
    assert store.verify(new) is None
    assert not store.delete(key.id)


def test_other_store_instance_sees_changes(tmp_path: Path) -> None:
    running = ApiKeyStore(tmp_path / "api-keys.json")
    cli = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = running.create("running", None)
    _, cli_token = cli.create("cli", None)
    assert running.verify(cli_token) is not None
    assert {k.purpose for k in running.list()} == {"running", "cli"}
    cli.delete(key.id)
    assert running.verify(token) is None


def test_readonly_keys_from_settings(tmp_path: Path) -> None:
    token = new_token()
    store = ApiKeyStore(tmp_path / "api-keys.json", [{"purpose": "settings", "token_hash": hash_token(token)}])
    key = store.verify(token)
    assert key is not None and key.read_only and len(key.id) == 22
    _, renewed = store.renew(key.id)
    assert store.verify(token) is None and store.verify(renewed) is not None
    assert not (tmp_path / "api-keys.json").exists()


async def test_averify_uses_cache(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, token = store.create("ci", None)
    assert await store.averify(token) == key
    assert token not in repr(store._cache)
    assert await store.averify(token) == key


async def test_key_created_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    store = ApiKeyStore(path)
    store.create("first", None)
    code = (
        "import sys; from pathlib import Path; from agent.security.keystore import ApiKeyStore; "
        "print(ApiKeyStore(Path(sys.argv[1])).create('cli', None)[1])"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(path), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert await store.averify(out.decode().strip()) is not None
    assert len(store.list()) == 2
