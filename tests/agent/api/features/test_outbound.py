"""URL rewrite outbound: rules, preconditions and custom tag sets, in upstream's UrlRewrite.cs scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.rows import REWRITE_SECTIONS, URL_REWRITE
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

OUTBOUND = next(spec for spec in REWRITE_SECTIONS if spec.endpoint == "url-rewrite/outbound")
BASE = OUTBOUND.path
TAGS = ("a", "area", "base", "form", "frame", "head", "iframe", "img", "input", "link", "script")


async def _section(api: TestClient[Any, Any], scope: str) -> dict[str, Any]:
    await ensure_installed(api, URL_REWRITE)
    return await feature_at(api, OUTBOUND, scope)


async def _create(api: TestClient[Any, Any], route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"{BASE}/{route}", json=body)
    assert response.status == 201, await response.text()
    created = dict(await response.json())
    assert response.headers["Location"] == f"{BASE}/{route}/{created['id']}"
    return created


async def test_section_links_and_patch(api: TestClient[Any, Any]) -> None:
    section = await _section(api, "")
    for name, route in (("rules", "rules"), ("preconditions", "preconditions"), ("custom_tags", "custom_tags")):
        assert section["_links"][name]["href"] == f"{BASE}/{route}?url_rewrite.id={section['id']}"
        listed = await api.get(section["_links"][name]["href"])
        assert listed.status == 200 and (await listed.json())[name] == []
    patched = await api.patch(f"{BASE}/{section['id']}", json={"rewrite_before_cache": True})
    assert (await patched.json())["rewrite_before_cache"] is True


async def test_precondition_create_update_delete(api: TestClient[Any, Any]) -> None:
    section = await _section(api, "")
    requirement = {"input": "{RESPONSE_CONTENT_TYPE}", "pattern": "^text/html", "negate": False, "ignore_case": True}
    made = await _create(api, "preconditions", {"name": "test_pc", "match": "all", "pattern_syntax": "wildcard",
                                                "requirements": [requirement], "url_rewrite": section})  # fmt: skip
    assert made["match"] == "all" and made["pattern_syntax"] == "wildcard" and made["requirements"] == [requirement]
    assert made["url_rewrite"]["id"] == section["id"]
    duplicate = await api.post(f"{BASE}/preconditions", json={"name": "TEST_PC", "url_rewrite": section})
    assert duplicate.status == 409 and (await duplicate.json())["name"] == "name"
    second = {"input": "{HTTP_X}", "pattern": "y", "negate": True, "ignore_case": False}
    patched = await api.patch(f"{BASE}/preconditions/{made['id']}", json={
        "name": "test_pc2", "match": "any", "requirements": [requirement, second]})  # fmt: skip
    assert patched.status == 209 and patched.headers["Location"].startswith(f"{BASE}/preconditions/")
    body = await patched.json()
    assert body["match"] == "any" and body["requirements"] == [requirement, second]
    bad = await api.patch(f"{BASE}/preconditions/{body['id']}", json={"requirements": [{"pattern": "x"}]})
    assert bad.status == 400 and (await bad.json())["name"] == "requirements.item.input"
    assert (await api.delete(f"{BASE}/preconditions/{body['id']}")).status == 204
    assert (await api.get(f"{BASE}/preconditions/{body['id']}")).status == 404


async def test_custom_tags_create_update_delete(api: TestClient[Any, Any]) -> None:
    section = await _section(api, "")
    made = await _create(api, "custom_tags", {"name": "test_tags", "tags": [{"name": "video", "attribute": "src"}],
                                              "url_rewrite": section})  # fmt: skip
    assert made["tags"] == [{"name": "video", "attribute": "src"}]
    tags = [{"name": "audio", "attribute": "src"}, {"name": "track", "attribute": "src"}]
    patched = await api.patch(f"{BASE}/custom_tags/{made['id']}", json={"tags": tags})
    assert patched.status == 200 and (await patched.json())["tags"] == tags
    missing = await api.patch(f"{BASE}/custom_tags/{made['id']}", json={"tags": [{"name": "x"}]})
    assert missing.status == 400 and (await missing.json())["name"] == "tags.item.attribute"
    assert (await api.delete(f"{BASE}/custom_tags/{made['id']}")).status == 204
    assert (await api.get(f"{BASE}/custom_tags/{made['id']}")).status == 404


async def test_outbound_rule_create_and_update(api: TestClient[Any, Any]) -> None:
    section = await _section(api, "")
    pre = await _create(api, "preconditions", {"name": "html", "url_rewrite": section,
                                               "requirements": [{"input": "{RESPONSE_CONTENT_TYPE}",
                                                                 "pattern": "^text/html"}]})  # fmt: skip
    pre2 = await _create(api, "preconditions", {"name": "other", "url_rewrite": section})
    tags = await _create(api, "custom_tags", {"name": "media", "url_rewrite": section,
                                              "tags": [{"name": "video", "attribute": "src"}]})  # fmt: skip
    missing = await api.post(f"{BASE}/rules", json={"name": "r", "pattern": "x", "url_rewrite": section})
    assert missing.status == 400 and (await missing.json())["name"] == "match_type"
    rule = await _create(api, "rules", {
        "name": "test_rule", "pattern": "^/old/(.*)", "pattern_syntax": "regular_expression", "match_type": "response",
        "tag_filters": {**dict.fromkeys(TAGS, True), "custom": tags}, "precondition": pre, "enabled": False,
        "rewrite_value": "/new/{R:1}", "ignore_case": False, "negate": True, "stop_processing": True,
        "condition_match_constraints": "match_any", "track_all_captures": False,
        "conditions": [{"input": "{HTTP_HOST}", "pattern": "example", "negate": False, "ignore_case": True}],
        "url_rewrite": section})  # fmt: skip
    assert rule["match_type"] == "response" and rule["enabled"] is False and rule["precondition"]["id"] == pre["id"]
    assert all(rule["tag_filters"][t] for t in TAGS) and rule["tag_filters"]["custom"]["id"] == tags["id"]
    assert "server_variable" not in rule and rule["rewrite_value"] == "/new/{R:1}" and rule["negate"] is True
    assert rule["condition_match_constraints"] == "match_any" and rule["conditions"][0]["input"] == "{HTTP_HOST}"
    assert rule["priority"] == 0 and rule["url_rewrite"]["id"] == section["id"]
    patched = await api.patch(f"{BASE}/rules/{rule['id']}", json={
        "name": "test_rule2", "match_type": "server_variable", "server_variable": "RESPONSE_X",
        "replace_server_variable": False, "precondition": pre2, "enabled": True})  # fmt: skip
    assert patched.status == 209, await patched.text()
    body = await patched.json()
    assert body["match_type"] == "server_variable" and body["server_variable"] == "RESPONSE_X"
    assert body["replace_server_variable"] is False and "tag_filters" not in body and body["enabled"] is True
    assert body["precondition"]["name"] == "other"
    back = await api.patch(f"{BASE}/rules/{body['id']}", json={"match_type": "response", "tag_filters": {"a": True}})
    reverted = await back.json()
    assert "server_variable" not in reverted and reverted["tag_filters"]["a"] is True
    assert reverted["tag_filters"]["img"] is False and reverted["tag_filters"]["custom"] is None
    unknown = await api.patch(f"{BASE}/rules/{body['id']}", json={"precondition": {"id": tags["id"]}})
    assert unknown.status == 404
    assert (await api.delete(f"{BASE}/rules/{body['id']}")).status == 204
    assert (await api.get(f"{BASE}/rules/{body['id']}")).status == 404


async def test_outbound_rule_priority(api: TestClient[Any, Any], content_dir: Path) -> None:
    await make_site(api, content_dir)
    section = await _section(api, "Feat")
    made = [await _create(api, "rules", {"name": name, "pattern": "x", "match_type": "response",
                                         "url_rewrite": section}) for name in ("one", "two")]  # fmt: skip
    assert [m["priority"] for m in made] == [0, 1]
    moved = await api.patch(f"{BASE}/rules/{made[1]['id']}", json={"priority": made[0]["priority"]})
    assert (await moved.json())["priority"] == 0
    assert (await (await api.get(f"{BASE}/rules/{made[0]['id']}")).json())["priority"] == 1
    listed = await (await api.get(f"{BASE}/rules?url_rewrite.id={section['id']}")).json()
    assert [r["name"] for r in listed["rules"]] == ["two", "one"]


async def test_sections_take_the_feature_id(api: TestClient[Any, Any]) -> None:
    await ensure_installed(api, URL_REWRITE)
    feature = await feature_at(api, URL_REWRITE, "")
    located = await api.get(BASE, params={"url_rewrite.id": feature["id"]})
    assert located.status == 209 and (await located.json())["id"] == feature["id"]
    assert (await api.get(BASE)).status == 404  # neither a scope nor the feature's id


@pytest.mark.parametrize("section", ["url-rewrite/inbound", "url-rewrite/global"])
async def test_inbound_and_global_priority_reorder_the_list(api: TestClient[Any, Any], section: str) -> None:
    spec = next(s for s in REWRITE_SECTIONS if s.endpoint == section)
    await ensure_installed(api, URL_REWRITE)
    feature = await feature_at(api, spec, "")
    rule = {"pattern": "^a$", "action": {"type": "rewrite", "url": "/b"}, "url_rewrite": feature}
    made = []
    for name in ("first", "second"):
        response = await api.post(f"{spec.path}/rules", json={**rule, "name": name})
        assert response.status == 201, await response.text()
        made.append(await response.json())
    moved = await api.patch(f"{spec.path}/rules/{made[1]['id']}", json={"priority": made[0]["priority"]})
    assert (await moved.json())["priority"] == made[0]["priority"]
    assert (await (await api.get(f"{spec.path}/rules/{made[0]['id']}")).json())["priority"] == made[0]["priority"] + 1
    listed = await (await api.get(f"{spec.path}/rules?url_rewrite.id={feature['id']}")).json()
    assert [r["name"] for r in listed["rules"]] == ["second", "first"]
