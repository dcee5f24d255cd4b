"""A tiny app with the agent's middleware order, the security routes and a dummy /api/things resource."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent.api.http import json_response, read_json
from agent.api.middleware import error_middleware
from agent.api.resources import access_token, access_tokens, api_keys
from agent.api.routes import ROUTES
from agent.api.routing import register
from agent.keys import KEY_STORE, SETTINGS
from agent.security.api_key_store import ApiKey, ApiKeyStore
from agent.security.audit import audit_middleware
from agent.security.auth import auth_middleware, current_key
from agent.security.cors import cors_middleware
from agent.security.setup import install_security
from agent.settings import AgentSettings

ORIGIN = "https://manage.iis.net"
Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]


def make_settings(**overrides: Any) -> AgentSettings:
    """Test settings: no Windows auth, manage.iis.net allowed, plus any top-level overrides."""
    raw: dict[str, Any] = {
        "host_id": str(uuid.uuid4()),
        "security": {"require_windows_authentication": False},
        "cors": {"rules": [{"origin": ORIGIN, "allow": True}]},
    }
    raw.update(overrides)
    return AgentSettings.model_validate(raw)


async def list_things(request: web.Request) -> web.StreamResponse:
    """GET /api/things: who is calling."""
    key = current_key(request)
    return json_response(request, {"things": [], "caller": key.id if key else None})


async def create_thing(request: web.Request) -> web.StreamResponse:
    """POST /api/things: echo the body."""
    body = await read_json(request)
    return json_response(request, body, status=201, location="/api/things/1")


async def ping(request: web.Request) -> web.StreamResponse:
    """GET /api/ping: public."""
    return web.Response(status=200, text="pong")


def build_test_app(state_dir: Path, settings: AgentSettings) -> web.Application:
    """Mirror agent.app.build_app's middleware order without the config store or host."""
    app = web.Application(middlewares=[cors_middleware, error_middleware, auth_middleware, audit_middleware])
    app[SETTINGS] = settings
    install_security(app, settings, state_dir)
    security = {access_token.__name__, api_keys.__name__, access_tokens.__name__}
    register(app.router, [route for route in ROUTES if route.handler.__module__ in security])
    app.router.add_get("/api/things", list_things)
    app.router.add_post("/api/things", create_thing)
    app.router.add_get("/api/ping", ping)
    app.router.add_get("/api/files/locations", list_things)
    return app


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The agent's state directory."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def make_client(aiohttp_client: Any, state_dir: Path) -> ClientFactory:
    """Start the test app with settings overrides; returns its client."""

    async def factory(**overrides: Any) -> Client:
        client: Client = await aiohttp_client(build_test_app(state_dir, make_settings(**overrides)))
        return client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> Client:
    """The test app with default settings."""
    return await make_client()


def store_of(client: Client) -> ApiKeyStore:
    """The running app's key store."""
    return client.app[KEY_STORE]


@pytest.fixture
def admin(client: Client) -> tuple[ApiKey, str]:
    """A never-expiring key of the running app and its token."""
    return store_of(client).create("tests", None)


def bearer(token: str) -> dict[str, str]:
    """The upstream token header."""
    return {"Access-Token": f"Bearer {token}"}
