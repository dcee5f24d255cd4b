"""A small app with only the error middleware and the files routes, over a read/write and a read-only location."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent.api.middleware import error_middleware
from agent.api.routes import API_ROUTES
from agent.api.routing import register
from agent.files.locations import FileLocations
from agent.files.paths import id_text
from agent.files.state import FILES_RUNTIME, FilesRuntime
from agent.hosting.base import UnavailableHost
from agent.ids import IdCodec, Purpose
from agent.keys import CONFIG_STORE, FILE_LOCATIONS, HOST, ID_CODEC, SECRET_BOX, SETTINGS, STATE_DIR
from agent.settings import AgentSettings
from shared.secretbox import SecretBox

Client = TestClient[web.Request, web.Application]
HAL = {"Accept": "application/hal+json"}


@dataclass
class FilesEnv:
    """Paths of one test: the state dir, a read/write root, a read-only root, and a directory outside both."""

    state: Path
    rw: Path
    ro: Path
    outside: Path
    app: web.Application
    client: Client

    def id(self, path: Path | str) -> str:
        """The /api/files id of a path (built the way the agent builds it)."""
        return self.app[ID_CODEC].encode(Purpose.FILE, id_text(str(path)))

    def raw_id(self, text: str) -> str:
        """An id over arbitrary plaintext, as a forger holding the key could make."""
        return self.app[ID_CODEC].encode(Purpose.FILE, text)

    async def json(self, method: str, url: str, status: int, **kw: Any) -> Any:
        """Send a request, check the status, return the JSON body (or None)."""
        kw.setdefault("headers", HAL)
        async with self.client.request(method, url, **kw) as resp:
            text = await resp.text()
            assert resp.status == status, f"{method} {url}: {resp.status} {text}"
            return json.loads(text) if text else None


def write_settings(state: Path, locations: list[dict[str, Any]]) -> AgentSettings:
    """appsettings.json with the given locations and one unrelated member to check it survives edits."""
    raw = {
        "host_id": str(uuid.uuid4()),
        "host_name": "files-tests",
        "security": {"require_windows_authentication": False},
        "cors": {"rules": [{"origin": "https://manage.iis.net", "allow": True}]},
        "files": {"locations": locations},
    }
    (state / "appsettings.json").write_text(json.dumps(raw), encoding="utf-8")
    return AgentSettings.model_validate(raw)


def build_files_app(state: Path, settings: AgentSettings, store: Any = None) -> web.Application:
    """The files routes over the given settings; a config store only when webserver files are tested."""
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[STATE_DIR] = state
    app[ID_CODEC] = IdCodec(settings.host_id)
    app[FILE_LOCATIONS] = FileLocations(settings.files)
    app[FILES_RUNTIME] = runtime = FilesRuntime(state)
    app[HOST] = UnavailableHost()
    app[SECRET_BOX] = SecretBox(state / "secrets.key")
    if store is not None:
        app[CONFIG_STORE] = store
    register(app.router, [r for r in API_ROUTES if "/files" in r.path or r.path.startswith("/downloads")])

    async def close_runtime(app: web.Application) -> None:
        await runtime.operations.wait()
        runtime.close()

    app.on_cleanup.append(close_runtime)
    return app


@pytest.fixture
async def env(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> FilesEnv:
    """The standard layout: rw (read+write), ro (read) and outside (no claims)."""
    state, rw, ro, outside = (tmp_path / n for n in ("state", "rw", "ro", "outside"))
    for path in (state, rw, ro, outside):
        path.mkdir()
    settings = write_settings(
        state,
        [
            {"alias": "rw", "path": str(rw), "claims": ["read", "write"]},
            {"alias": "ro", "path": str(ro), "claims": ["read"]},
        ],
    )
    app = build_files_app(state, settings)
    client = await aiohttp_client(app)
    return FilesEnv(state, rw, ro, outside, app, client)
