"""Request filtering's split lists: `allow` picks the deny or the always-allowed list, PATCH moves an entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from tests.agent.api.features.helpers import feature_at

FILTERING = next(spec for spec in FEATURES if spec.endpoint == "http-request-filtering")


async def test_allow_moves_entry_between_lists(api: TestClient[Any, Any], content_dir: Path) -> None:
    feature = await feature_at(api, FILTERING, "")
    path = f"{FILTERING.path}/urls"
    created = await api.post(path, json={"url": "/split-me", "allow": True, FILTERING.parent: feature})
    assert created.status == 201, await created.text()
    entry = await created.json()
    assert entry["allow"] is True and entry["url"] == "/split-me"
    # urls conflict only within the list they go to (upstream): the same url may be denied too
    denied = await api.post(path, json={"url": "/split-me", "allow": False, FILTERING.parent: feature})
    assert denied.status == 201, await denied.text()
    assert (await api.post(path, json={"url": "/split-me", "allow": True, FILTERING.parent: feature})).status == 409
    await api.delete(f"{path}/{(await denied.json())['id']}")
    moved = await api.patch(f"{path}/{entry['id']}", json={"allow": False})
    assert moved.status == 200 and (await moved.json())["allow"] is False
    listed = (await (await api.get(f"{path}?{FILTERING.parent}.id={feature['id']}")).json())["urls"]
    assert [item["url"] for item in listed].count("/split-me") == 1
    got = await (await api.get(f"{path}/{entry['id']}")).json()
    assert got["allow"] is False
    assert (await api.delete(f"{path}/{entry['id']}")).status == 204
    assert (await api.get(f"{path}/{entry['id']}")).status == 404


async def test_query_strings_conflict_across_lists(api: TestClient[Any, Any], content_dir: Path) -> None:
    feature = await feature_at(api, FILTERING, "")
    path = f"{FILTERING.path}/query-strings"
    first = await api.post(path, json={"query_string": "q=1", "allow": True, FILTERING.parent: feature})
    assert first.status == 201, await first.text()
    again = await api.post(path, json={"query_string": "q=1", "allow": False, FILTERING.parent: feature})
    assert again.status == 409
    assert (await api.post(path, json={"allow": True, FILTERING.parent: feature})).status == 400
    assert (await api.delete(f"{path}/{(await first.json())['id']}")).status == 204
