"""Fixtures shared by the whole suite: an agent app on a fresh state directory and a token for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent.app import build_app
from agent.security.api_key_store import ApiKeyStore
from agent.settings import AgentSettings, load_settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh agent state directory."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def settings(state_dir: Path) -> AgentSettings:
    """Settings as first run writes them."""
    return load_settings(state_dir / "appsettings.json")


@pytest.fixture
def token(state_dir: Path, settings: AgentSettings) -> str:
    """A valid access token for the agent under test."""
    _key, value = ApiKeyStore(state_dir / "api-keys.json").create("tests", None)
    return value


@pytest.fixture
def agent_app(state_dir: Path, settings: AgentSettings) -> web.Application:
    """The agent application with its stock configuration."""
    return build_app(state_dir, settings)


@pytest.fixture
async def api(aiohttp_client: ClientFactory, agent_app: web.Application, token: str) -> TestClient[Any, Any]:
    """A client that sends the token and asks for HAL, as upstream clients do."""
    return await aiohttp_client(
        agent_app, headers={"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}
    )


@pytest.fixture
def content_dir(state_dir: Path) -> Path:
    """A directory inside the default read/write file location."""
    path = state_dir / "inetpub" / "sites" / "demo"
    path.mkdir(parents=True)
    return path
