"""Every file the agent writes that holds a secret is mode 0600, whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import build_app
from agent.security.keys import KEY_STORE
from agent.security.tls import server_ssl_context
from tests.agent.security.conftest import make_settings

SECRET_NAMES = {"api-keys.json", "xsrf.key", "secrets.key"}


def secret_files(state_dir: Path) -> dict[str, int]:
    """Relative path -> permission bits of each file holding a key, token hash or private key."""
    found: dict[str, int] = {}
    for path in state_dir.rglob("*"):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        private = b"PRIVATE KEY-----" in path.read_bytes()
        if private or path.name in SECRET_NAMES or path.suffix == ".key":
            found[str(path.relative_to(state_dir))] = path.stat().st_mode & 0o777
    return found


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave every file world-writable unless the code sets modes itself."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_agent_secrets_are_0600(tmp_path: Path, aiohttp_client: Any) -> None:
    state = tmp_path / "state"
    state.mkdir()
    settings = make_settings()
    app = build_app(state, settings)
    await aiohttp_client(app)  # runs startup: certificate stores bootstrap with private keys
    app[KEY_STORE].create("ci", None)
    server_ssl_context(state, settings, ["127.0.0.1"])
    found = secret_files(state)
    expected = {"api-keys.json", "xsrf.key", "secrets.key", "certs/agent.key"}
    assert expected <= found.keys(), found
    assert any(name.startswith("certificates/") for name in found), found  # the bootstrapped store
    assert {name: mode for name, mode in found.items() if mode != 0o600} == {}
