"""Configuration transactions: staged writes, isolation, commit, abort, and refused unstaged writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

TRANSACTIONS = "/api/webserver/transactions"
SITES = "/api/webserver/websites"


async def _default_site(api: TestClient[Any, Any]) -> dict[str, Any]:
    listed = await (await api.get(SITES)).json()
    return dict(await (await api.get(f"{SITES}/{listed['websites'][0]['id']}")).json())


async def _begin(api: TestClient[Any, Any]) -> dict[str, Any]:
    response = await api.post(TRANSACTIONS, json={})
    assert response.status == 201
    txn = dict(await response.json())
    assert txn["state"] == "Started" and response.headers["Location"] == f"{TRANSACTIONS}/{txn['id']}"
    return txn


async def test_commit_applies_staged_changes_atomically(api: TestClient[Any, Any], state_dir: Path) -> None:
    site = await _default_site(api)
    txn = await _begin(api)
    header = {"Transaction-Id": txn["id"]}
    staged = await api.patch(f"{SITES}/{site['id']}", json={"server_auto_start": False}, headers=header)
    assert staged.status == 200 and (await staged.json())["server_auto_start"] is False
    outside = await (await api.get(f"{SITES}/{site['id']}")).json()
    assert outside["server_auto_start"] is True  # readers without the header see committed state
    assert 'serverAutoStart="false"' not in (state_dir / "applicationHost.config").read_text()
    inside = await (await api.get(f"{SITES}/{site['id']}", headers=header)).json()
    assert inside["server_auto_start"] is False
    committed = await api.patch(f"{TRANSACTIONS}/{txn['id']}", json={"state": "committed"}, headers=header)
    assert committed.status == 200 and (await committed.json())["state"] == "Committed"
    assert (await (await api.get(TRANSACTIONS)).json())["transactions"] == []
    after = await (await api.get(f"{SITES}/{site['id']}")).json()
    assert after["server_auto_start"] is False


async def test_writes_without_the_header_are_refused(api: TestClient[Any, Any]) -> None:
    site = await _default_site(api)
    txn = await _begin(api)
    refused = await api.delete(f"{SITES}/{site['id']}")
    assert refused.status == 404 and (await refused.json())["name"] == "transaction"
    wrong = await api.get(SITES, headers={"Transaction-Id": "not-it"})
    assert wrong.status == 404
    again = await api.post(TRANSACTIONS, json={})
    assert (await again.json())["id"] == txn["id"]  # one transaction server-wide
    aborted = await api.patch(f"{TRANSACTIONS}/{txn['id']}", json={"state": "aborted"})
    assert aborted.status == 200 and (await aborted.json())["state"] == "Aborted"
    assert (await api.get(f"{SITES}/{site['id']}")).status == 200
    assert (await api.get(f"{TRANSACTIONS}/{txn['id']}")).status == 404


async def test_abort_discards_staged_sites(api: TestClient[Any, Any], content_dir: Path) -> None:
    txn = await _begin(api)
    header = {"Transaction-Id": txn["id"]}
    created = await api.post(SITES, headers=header, json={
        "name": "Staged", "physical_path": str(content_dir),
        "bindings": [{"ip_address": "*", "port": 8500, "protocol": "http"}]})
    assert created.status == 201
    assert len((await (await api.get(SITES, headers=header)).json())["websites"]) == 2
    assert len((await (await api.get(SITES)).json())["websites"]) == 1
    await api.patch(f"{TRANSACTIONS}/{txn['id']}", json={"state": "aborted"})
    assert len((await (await api.get(SITES)).json())["websites"]) == 1
