"""Inbound rules that set server variables: the allow list grows only where the effective list lacks a name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.rows import REWRITE_SECTIONS, URL_REWRITE
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

BY_ENDPOINT = {spec.endpoint: spec for spec in REWRITE_SECTIONS}
INBOUND, VARIABLES = BY_ENDPOINT["url-rewrite/inbound"], BY_ENDPOINT["url-rewrite/allowed-server-variables"]
RULE = {"name": "sets", "pattern": "^a$", "action": {"type": "rewrite", "url": "/b"}}


async def _setup(api: TestClient[Any, Any], content_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    await ensure_installed(api, URL_REWRITE)
    await make_site(api, content_dir)
    server = await feature_at(api, VARIABLES, "")
    patched = await api.patch(f"{VARIABLES.path}/{server['id']}", json={"entries": ["HTTP_X_ORIGINAL", "abc"]})
    assert patched.status == 200, await patched.text()
    return server, await feature_at(api, INBOUND, "Feat")


async def test_inherited_variable_needs_no_site_entry(api: TestClient[Any, Any], content_dir: Path) -> None:
    _server, site = await _setup(api, content_dir)
    variables = [{"name": "http_x_original", "value": "{URL}"}, {"name": "ABC", "value": "1", "replace": True}]
    made = await api.post(f"{INBOUND.path}/rules", json={**RULE, "server_variables": variables, "url_rewrite": site})
    assert made.status == 201, await made.text()  # allowedServerVariables is denied at site level by default
    assert [v["name"] for v in (await made.json())["server_variables"]] == ["http_x_original", "ABC"]
    at_site = await feature_at(api, VARIABLES, "Feat")
    assert at_site["entries"] == ["HTTP_X_ORIGINAL", "abc"] and at_site["metadata"]["is_local"] is False


async def test_missing_variable_at_a_denied_level_is_locked(api: TestClient[Any, Any], content_dir: Path) -> None:
    server, site = await _setup(api, content_dir)
    body = {**RULE, "server_variables": [{"name": "HTTP_NEW", "value": "x"}], "url_rewrite": site}
    locked = await api.post(f"{INBOUND.path}/rules", json=body)
    assert locked.status == 403 and (await locked.json())["title"] == "Object is locked"
    assert (await api.get(f"{INBOUND.path}/rules?url_rewrite.id={site['id']}")).status == 200
    unlock = await api.patch(f"{VARIABLES.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
    assert unlock.status == 200
    twice = await api.post(f"{INBOUND.path}/rules", json={**body, "server_variables": [
        {"name": "HTTP_NEW", "value": "x"}, {"name": "http_new", "value": "y"}]})  # fmt: skip
    assert twice.status == 400
    made = await api.post(f"{INBOUND.path}/rules", json={**body, "server_variables": [
        {"name": "HTTP_NEW", "value": "x"}, {"name": "ABC", "value": "z"}]})  # fmt: skip
    assert made.status == 201, await made.text()
    at_site = await feature_at(api, VARIABLES, "Feat")
    assert at_site["entries"] == ["HTTP_X_ORIGINAL", "abc", "HTTP_NEW"] and at_site["metadata"]["is_local"] is True


async def test_server_rule_adds_missing_name_at_server(api: TestClient[Any, Any], content_dir: Path) -> None:
    await _setup(api, content_dir)
    server_inbound = await feature_at(api, INBOUND, "")
    made = await api.post(f"{INBOUND.path}/rules", json={
        **RULE, "server_variables": [{"name": "HTTP_Y", "value": "1"}], "url_rewrite": server_inbound})  # fmt: skip
    assert made.status == 201, await made.text()
    assert (await feature_at(api, VARIABLES, ""))["entries"] == ["HTTP_X_ORIGINAL", "abc", "HTTP_Y"]
