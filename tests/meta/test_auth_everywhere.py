"""Every route of the agent refuses a request without a token, except the few upstream leaves open."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.routes import ROUTES
from tests.conftest import ClientFactory

# Upstream's ping page (plus /ping for browsers accepting the certificate) and download links,
# which carry their own random id instead of a token.
PUBLIC = ("/api/ping", "/ping", "/downloads/{id}")


async def test_no_token_no_access(aiohttp_client: ClientFactory, agent_app: Any) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(agent_app)
    checked = 0
    for route in ROUTES:
        if route.path in PUBLIC:
            continue
        path = re.sub(r"{[^}]+}", "x", route.path)
        response = await client.request(route.method, path, json={})
        assert response.status == 403, f"{route.method} {route.path} answered {response.status} without a token"
        checked += 1
    assert checked > 100
