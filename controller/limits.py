"""Connection-level limits of the controller's HTTPS server: keep-alive / request-head timeout and a cap on
concurrent connections.

aiohttp (3.14, web_protocol.connection_made) arms its keep-alive timer when a connection opens, and closes a
connection whose handler still waits for a complete request head when it fires; so `keepalive_timeout` is
also the time a client has to send a request head, on a new connection and between requests (slow-loris).
Past `max_connections`, new connections are closed right after the TLS handshake, which itself must finish
within HANDSHAKE_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiohttp import web

from controller.settings import ControllerSettings

HANDSHAKE_TIMEOUT = 10.0
MAX_FIELD_SIZE = 16 * 1024
"""Longest header line; operator tokens and agent headers are far below it."""


def runner_options(settings: ControllerSettings) -> dict[str, Any]:
    """Keyword arguments for web.AppRunner (passed on to every connection's handler)."""
    return {"keepalive_timeout": settings.keepalive_timeout, "max_field_size": MAX_FIELD_SIZE,
            "max_line_size": MAX_FIELD_SIZE}


class _Closed(asyncio.Protocol):
    """What a connection over the cap gets: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class LimitedSite(web.BaseSite):
    """A TCP site that refuses connections beyond `max_connections` (otherwise like web.TCPSite)."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
        max_connections: int,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._max = max_connections

    @property
    def name(self) -> str:
        """The URL the site serves."""
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each accepted connection gets a request handler while under the cap."""
        await super().start()
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.Protocol:
            return server() if len(server.connections) < self._max else _Closed()

        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog, reuse_address=True,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self._ssl_context else None,
        )
