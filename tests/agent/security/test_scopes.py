"""Key scopes: the controller's enrollment key never reaches file locations or key management."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.security import scopes
from agent.security.api_key_store import ApiKeyStore
from tests.agent.security.conftest import Client, bearer, store_of

ROOT = Path(__file__).resolve().parents[3]
SYSTEM_PATHS = ["/api/files/locations", "/security/api-keys"]


@pytest.mark.parametrize("path", SYSTEM_PATHS)
async def test_controller_key_cannot_reach_system_or_keys(client: Client, path: str) -> None:
    _, token = store_of(client).create("iisfleet controller https://c:8443", None, scope=scopes.CONTROLLER)
    response = await client.get(path, headers=bearer(token))
    assert response.status == 403
    body = await response.json(content_type=None)
    assert body["title"] == "Forbidden" and body["status"] == 403 and "controller" in body["detail"]
    # The ordinary API still works with it.
    assert (await client.get("/api/things", headers=bearer(token))).status == 200


async def test_controller_key_cannot_mint_keys(client: Client, state_dir: Path) -> None:
    _, token = store_of(client).create("ctl", None, scope=scopes.CONTROLLER)
    response = await client.post("/security/api-keys", json={"expires_on": ""}, headers=bearer(token))
    assert response.status == 403
    assert len(store_of(client).list()) == 1


async def test_controller_key_cannot_renew_its_token(client: Client) -> None:
    """Security review: renewing via /api/access-token handed the controller's key to whoever made it call."""
    _, token = store_of(client).create("iisfleet controller https://c:8443", None, scope=scopes.CONTROLLER)
    response = await client.post("/api/access-token", json={}, headers=bearer(token))
    assert response.status == 403
    body = await response.json(content_type=None)
    assert body["title"] == "Forbidden" and "value" not in body
    assert (await client.get("/api/things", headers=bearer(token))).status == 200  # the key still works
    assert (await client.get("/api/access-token", headers=bearer(token))).status == 200  # reading stays allowed
    _, local = store_of(client).create("automation", None, scope=scopes.API_ONLY)
    assert (await client.post("/api/access-token", json={}, headers=bearer(local))).status == 201


@pytest.mark.parametrize("scope", [scopes.SYSTEM, None])
@pytest.mark.parametrize("path", SYSTEM_PATHS)
async def test_system_and_unscoped_keys_reach_everything(client: Client, path: str, scope: str | None) -> None:
    store = store_of(client)
    _, token = store.create("local", None) if scope is None else store.create("local", None, scope=scope)
    assert (await client.get(path, headers=bearer(token))).status == 200


async def test_api_scope_is_api_only(client: Client) -> None:
    _, token = store_of(client).create("automation", None, scope=scopes.API_ONLY)
    assert (await client.get("/api/things", headers=bearer(token))).status == 200
    assert (await client.get("/api/files/locations", headers=bearer(token))).status == 403


async def test_legacy_enrollment_key_loses_system_access(client: Client, state_dir: Path) -> None:
    """A key stored before scopes existed is recognised by the purpose enrollment gave it."""
    store = store_of(client)
    _, legacy = store.create("iisfleet controller https://old:8443", None)
    _, local = store.create("my laptop", None)
    path = state_dir / "api-keys.json"
    doc = json.loads(path.read_text())
    for entry in doc["keys"]:
        del entry["scope"]  # as written by earlier versions
    path.write_text(json.dumps(doc))
    assert (await client.get("/api/files/locations", headers=bearer(legacy))).status == 403
    assert (await client.get("/api/files/locations", headers=bearer(local))).status == 200
    assert {key.purpose: key.scope for key in ApiKeyStore(path).list()} == {
        "iisfleet controller https://old:8443": "controller",
        "my laptop": "system",
    }


async def test_unknown_scope_fails_closed(client: Client, state_dir: Path) -> None:
    _, token = store_of(client).create("x", None)
    path = state_dir / "api-keys.json"
    doc = json.loads(path.read_text())
    doc["keys"][0]["scope"] = "everything"
    path.write_text(json.dumps(doc))
    assert (await client.get("/api/things", headers=bearer(token))).status == 403


def test_scope_is_explicit_once_stored(tmp_path: Path) -> None:
    """A system key whose purpose later looks like the controller's keeps its stored scope."""
    store = ApiKeyStore(tmp_path / "api-keys.json")
    key, _ = store.create("iisfleet controller https://c", None, scope=scopes.SYSTEM)
    assert ApiKeyStore(tmp_path / "api-keys.json").get(key.id).scope == "system"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.create("x", None, scope="root")


def _cli_create(state_dir: Path, purpose: str, *extra: str) -> str:
    """Run the installed `iisfleet agent key create` and return the printed token."""
    iisfleet = Path(sys.executable).with_name("iisfleet")
    args = [str(iisfleet), "agent", "key", "create", "--state-dir", str(state_dir), "--purpose", purpose, *extra]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def test_cli_scope(tmp_path: Path) -> None:
    tokens = {
        purpose: _cli_create(tmp_path, purpose, *extra)
        for purpose, extra in (("sys", ("--scope", "system")), ("api", ("--scope", "api")), ("plain", ()))
    }
    store = ApiKeyStore(tmp_path / "api-keys.json")
    assert {purpose: store.verify(token).scope for purpose, token in tokens.items()} == {  # type: ignore[union-attr]
        "sys": "system",
        "api": "api",
        "plain": "system",
    }
