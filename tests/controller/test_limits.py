"""Connection limits of the controller: a request head must arrive in time, and connections are capped."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from controller.app import build_app, open_redis
from controller.keys import CA
from controller.limits import LimitedSite, runner_options
from controller.settings import ControllerSettings
from controller.store import FleetStore
from controller.tls import server_context
from tests.controller.conftest import free_port

KEEPALIVE = 1.5
CAP = 3


@pytest.fixture
async def limited(tmp_path: Path, redis_url: str, prefix: str) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    settings = ControllerSettings(state_dir=tmp_path / "c", address="127.0.0.1", port=free_port(),
                                  redis_url=redis_url, redis_prefix=prefix, keepalive_timeout=KEEPALIVE,
                                  max_connections=CAP)
    settings.state_dir.mkdir()
    app = build_app(settings, redis_url)
    runner = web.AppRunner(app, access_log=None, **runner_options(settings))
    await runner.setup()
    await LimitedSite(runner, "127.0.0.1", settings.port, ssl_context=server_context(settings, app[CA]),
                      max_connections=CAP).start()
    try:
        yield settings.port, ssl.create_default_context(cafile=str(app[CA].cert_file))
    finally:
        cleanup = open_redis(redis_url)
        await FleetStore(cleanup, prefix).clear()
        await cleanup.aclose()
        await runner.cleanup()


async def _open(port: int, context: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")


async def _status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /api/enroll/ca HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 5)


async def test_a_slow_request_head_is_cut_off(limited: tuple[int, ssl.SSLContext]) -> None:
    port, context = limited
    reader, writer = await _open(port, context)
    writer.write(b"GET /api/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the head never ends
    await writer.drain()
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), KEEPALIVE * 4) == b""  # closed by the server
    assert asyncio.get_running_loop().time() - started < KEEPALIVE * 3
    writer.close()


async def test_connections_beyond_the_cap_are_closed(limited: tuple[int, ssl.SSLContext]) -> None:
    port, context = limited
    held = [await _open(port, context) for _ in range(CAP)]
    for reader, writer in held:
        assert (await _status(reader, writer)).startswith(b"HTTP/1.1 200")
    reader, writer = await _open(port, context)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError, ssl.SSLError)):
        line = await _status(reader, writer)
        if not line:
            raise ConnectionError("closed")
    writer.close()
    for _reader, held_writer in held:
        held_writer.close()
    await asyncio.sleep(0.2)
    reader, writer = await _open(port, context)
    assert (await _status(reader, writer)).startswith(b"HTTP/1.1 200")  # room again
    writer.close()
