"""Request filtering lists, request tracing rules and URL rewrite sections/entries through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.rows import REWRITE_SECTIONS, URL_REWRITE
from agent.api.features.table import FEATURES
from agent.iisconfig.schema import SCHEMA
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

BY_ENDPOINT = {spec.endpoint: spec for spec in (*FEATURES, *REWRITE_SECTIONS)}
RULE = {"name": "test_rule", "pattern": "^old$",
        "action": {"type": "redirect", "url": "/new", "redirect_type": "found"},
        "conditions": [{"input": "{HTTP_HOST}", "pattern": "x", "match_type": "pattern"}]}  # fmt: skip
CASES = [
    ("http-request-filtering", "query-strings", {"query_string": "test_q_string", "allow": False},
     {"query_string": "test_q_string-new", "allow": True}),
    ("http-request-filtering", "urls", {"url": "test_url", "allow": False}, {"url": "test_url-new"}),
    ("http-request-filtering", "rules", {"name": "test_rule", "scan_url": True, "headers": ["h1"],
                                         "deny_strings": ["bad", ""]}, {"name": "test_rule-new", "headers": []}),
    ("http-request-tracing", "rules", {"path": "test_rule*.path", "status_codes": ["101", "244-245"],
                                       "min_request_execution_time": 100, "event_severity": "error"},
     {"path": "test_patch*.path", "status_codes": ["333"], "min_request_execution_time": 103}),
    ("url-rewrite/inbound", "rules", RULE, {"name": "test_rule2", "pattern_syntax": "wildcard"}),
    ("url-rewrite/global", "rules", RULE, {"stop_processing": True}),
    ("url-rewrite/rewrite-maps", "entries", {"name": "m", "mappings": [{"name": "a", "value": "b"}]},
     {"name": "m2", "mappings": [{"name": "c", "value": "d"}], "ignore_case": False}),
    ("url-rewrite/providers", "entries", {"name": "p", "type": "T", "settings": [{"name": "a", "value": "b"}]},
     {"type": "T2"}),
]


@pytest.mark.parametrize(("endpoint", "route", "create", "change"), CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
async def test_lifecycle(api: TestClient[Any, Any], content_dir: Path, endpoint: str, route: str,
                         create: dict[str, Any], change: dict[str, Any]) -> None:
    spec = BY_ENDPOINT[endpoint]
    child = next(c for c in spec.children if c.route == route)
    await ensure_installed(api, spec if spec.installable else URL_REWRITE)
    feature = await feature_at(api, spec, "")
    created = await api.post(f"{spec.path}/{route}", json={**create, spec.parent_member: feature})
    assert created.status == 201, await created.text()
    entry = await created.json()
    for key, value in create.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            assert entry[key] == [v for v in value if v], key
        elif not isinstance(value, dict | list):
            assert entry[key] == value, key
    listed = await (await api.get(feature["_links"][child.plural]["href"])).json()
    assert entry["id"] in [item["id"] for item in listed[child.plural]]
    assert (await api.post(f"{spec.path}/{route}", json={**create, spec.parent_member: feature})).status == 409
    patched = await api.patch(f"{spec.path}/{route}/{entry['id']}", json=change)
    assert patched.status in (200, 209), await patched.text()
    body = await patched.json()
    for key, value in change.items():
        assert body[key] == value, key
    assert (await api.get(f"{spec.path}/{route}/{body['id']}")).status == 200
    assert (await api.delete(f"{spec.path}/{route}/{body['id']}")).status == 204
    assert (await api.get(f"{spec.path}/{route}/{body['id']}")).status == 404


async def test_rewrite_feature_links_and_sections(api: TestClient[Any, Any], content_dir: Path) -> None:
    await ensure_installed(api, URL_REWRITE)
    await make_site(api, content_dir)
    server, site = await feature_at(api, URL_REWRITE, ""), await feature_at(api, URL_REWRITE, "Feat")
    assert "global" in server["_links"] and "global" not in site["_links"]
    inbound = await (await api.get(site["_links"]["inbound"]["href"])).json()
    assert inbound["id"] == site["id"] and inbound["scope"] == "Feat/"
    variables = BY_ENDPOINT["url-rewrite/allowed-server-variables"]
    names = ["these", "are", "test", "variables"]
    patched = await api.patch(f"{variables.path}/{server['id']}", json={"entries": names})
    assert patched.status == 200 and (await patched.json())["entries"] == names
    mode = await api.patch(f"{variables.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
    assert (await mode.json())["metadata"]["override_mode"] == "allow"


async def test_inbound_priority(api: TestClient[Any, Any], content_dir: Path) -> None:
    spec = BY_ENDPOINT["url-rewrite/inbound"]
    await ensure_installed(api, URL_REWRITE)
    await make_site(api, content_dir)
    feature = await feature_at(api, spec, "Feat")
    ids = []
    for name in ("one", "two"):
        made = await api.post(f"{spec.path}/rules", json={**RULE, "name": name, spec.parent_member: feature})
        ids.append((await made.json())["id"])
    moved = await api.patch(f"{spec.path}/rules/{ids[1]}", json={"priority": 0})
    assert (await moved.json())["priority"] == 0
    assert (await (await api.get(f"{spec.path}/rules/{ids[0]}")).json())["priority"] == 1


async def test_tracing_site_members(api: TestClient[Any, Any], content_dir: Path) -> None:
    spec = BY_ENDPOINT["http-request-tracing"]
    await ensure_installed(api, spec)
    await make_site(api, content_dir)
    site = await feature_at(api, spec, "Feat")
    assert site["enabled"] is False and site["maximum_number_trace_files"] == 50
    patched = await api.patch(f"{spec.path}/{site['id']}", json={"enabled": True, "maximum_number_trace_files": 7})
    assert (await patched.json())["maximum_number_trace_files"] == 7
    assert (await feature_at(api, spec, ""))["enabled"] is True


def test_rewrite_sections_have_schemas() -> None:
    for spec in REWRITE_SECTIONS:
        assert spec.section in SCHEMA, spec.endpoint
