"""Shared helpers for the feature tests: install a feature, make a site, fetch a feature at a scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.spec import FeatureSpec

SITES = "/api/webserver/websites"


async def ensure_installed(api: TestClient[Any, Any], spec: FeatureSpec) -> None:
    """POST the feature when the stock configuration lacks its modules."""
    if spec.installable:
        response = await api.post(spec.path, json={})
        assert response.status in (201, 409), await response.text()


async def make_site(api: TestClient[Any, Any], content_dir: Path, name: str = "Feat") -> dict[str, Any]:
    """Create a site on `content_dir`."""
    binding = {"ip_address": "*", "port": 8282, "protocol": "http"}
    response = await api.post(SITES, json={"name": name, "physical_path": str(content_dir), "bindings": [binding]})
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def feature_at(api: TestClient[Any, Any], spec: FeatureSpec, scope: str) -> dict[str, Any]:
    """GET <feature>?scope=..., following upstream's 209 + Location."""
    response = await api.get(spec.path, params={"scope": scope})
    assert response.status in (200, 209), await response.text()
    body = dict(await response.json())
    if response.status == 209:
        assert response.headers["Location"] == f"{spec.path}/{body['id']}"
    return body
