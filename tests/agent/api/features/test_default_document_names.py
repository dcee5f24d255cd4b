"""Security review: a default document is a file name; paths that leave the site directory are refused (400)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from agent.security.confine import plain_file_name
from tests.agent.api.features.helpers import feature_at

SPEC = {s.endpoint: s for s in FEATURES}["default-documents"]
ESCAPES = ["../../../../etc/passwd", "/var/lib/iisfleet-agent/controller/identity.pem", "..", "sub/index.html",
           "sub\\index.html", "C:index.html", "C:\\Windows\\win.ini", "index.html\x00.txt", "\\\\host\\share\\x", "."]


@pytest.mark.parametrize("name", ESCAPES)
async def test_escaping_names_are_refused(api: TestClient[Any, Any], name: str) -> None:
    feature = await feature_at(api, SPEC, "")
    resp = await api.post(SPEC.path + "/files", json={"name": name, "default_document": {"id": feature["id"]}})
    assert resp.status == 400, await resp.text()
    body = await resp.json(content_type=None)
    assert body["title"] == "Invalid parameter" and body["name"] == "name"
    listed = await api.get(SPEC.path + "/files", params={"default_document.id": feature["id"]})
    assert name not in [entry["name"] for entry in (await listed.json(content_type=None))["files"]]


async def test_plain_names_are_accepted(api: TestClient[Any, Any]) -> None:
    feature = await feature_at(api, SPEC, "")
    for name in ("home.html", "index..html", "..index.htm", "default page.aspx"):
        resp = await api.post(SPEC.path + "/files", json={"name": name, "default_document": {"id": feature["id"]}})
        assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("name", ESCAPES + [""])
def test_plain_file_name_refuses_paths(name: str) -> None:
    assert not plain_file_name(name)
