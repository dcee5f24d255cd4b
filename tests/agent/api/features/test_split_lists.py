"""Request filtering's split lists: `allow` picks the deny or the always-allowed list, PATCH moves an entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from agent.keys import CONFIG_STORE
from tests.agent.api.features.helpers import feature_at, make_site

FILTERING = next(spec for spec in FEATURES if spec.endpoint == "http-request-filtering")


def _stored(api: TestClient[Any, Any], holder: str, attribute: str) -> list[str]:
    """The values of one server-level list of requestFiltering, as written to the configuration."""
    section = api.app[CONFIG_STORE].section(FILTERING.section)
    return [str(entry.get(attribute)) for entry in section.child(holder).collection()]


async def test_allow_moves_entry_between_lists(api: TestClient[Any, Any], content_dir: Path) -> None:
    feature = await feature_at(api, FILTERING, "")
    path = f"{FILTERING.path}/urls"
    created = await api.post(path, json={"url": "/split-me", "allow": True, FILTERING.parent: feature})
    assert created.status == 201, await created.text()
    entry = await created.json()
    assert entry["allow"] is True and entry["url"] == "/split-me"
    assert "/split-me" in _stored(api, "alwaysAllowedUrls", "url")
    assert "/split-me" not in _stored(api, "denyUrlSequences", "sequence")
    # urls conflict only within the list they go to (upstream): the same url may be denied too
    denied = await api.post(path, json={"url": "/split-me", "allow": False, FILTERING.parent: feature})
    assert denied.status == 201, await denied.text()
    assert (await api.post(path, json={"url": "/split-me", "allow": True, FILTERING.parent: feature})).status == 409
    await api.delete(f"{path}/{(await denied.json())['id']}")
    assert (await api.patch(f"{path}/{entry['id']}", json={"url": ""})).status == 400
    moved = await api.patch(f"{path}/{entry['id']}", json={"allow": False})
    assert moved.status == 200 and (await moved.json())["allow"] is False
    assert "/split-me" in _stored(api, "denyUrlSequences", "sequence")
    assert "/split-me" not in _stored(api, "alwaysAllowedUrls", "url")
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


async def test_moving_an_inherited_entry_writes_at_the_site(api: TestClient[Any, Any], content_dir: Path) -> None:
    server = await feature_at(api, FILTERING, "")
    path = f"{FILTERING.path}/urls"
    assert (await api.post(path, json={"url": "/inherited", "allow": False, FILTERING.parent: server})).status == 201
    await make_site(api, content_dir)
    site = await feature_at(api, FILTERING, "Feat")
    listed = (await (await api.get(f"{path}?{FILTERING.parent}.id={site['id']}")).json())["urls"]
    entry = next(item for item in listed if item["url"] == "/inherited")
    moved = await api.patch(f"{path}/{entry['id']}", json={"allow": True})
    assert moved.status == 200 and (await moved.json())["allow"] is True
    assert "/inherited" in _stored(api, "denyUrlSequences", "sequence")  # the server level keeps it
    local = api.app[CONFIG_STORE].section(FILTERING.section, "Feat")
    deny = local.child("denyUrlSequences").element
    assert deny is not None
    removed = [e.get("sequence") for e in deny if e.tag == "remove"]
    assert removed == ["/inherited"]
    assert [str(e.get("url")) for e in local.child("alwaysAllowedUrls").collection()] == ["/inherited"]
    server_list = (await (await api.get(f"{path}?{FILTERING.parent}.id={server['id']}")).json())["urls"]
    assert [item["url"] for item in server_list].count("/inherited") == 1  # list items carry url and id only
