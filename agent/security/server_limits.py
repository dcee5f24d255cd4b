"""The agent's listening socket with denial-of-service limits: connection cap, handshake and idle timeouts.

aiohttp's keep-alive timer starts when a connection opens and after every response, and closes the
connection if no complete request has arrived when it fires: `keepalive_timeout` is therefore both the
idle keep-alive limit and the time a client has to send its request headers (slowloris). TLS handshakes get
their own timeout. Over `max_connections` live connections a new one is answered 503 and closed.
Run it with `web.AppRunner(app, keepalive_timeout=limits.keepalive_timeout)`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import cast

from aiohttp import web
from aiohttp.web_server import Server

from agent.settings import ServerLimits

_BUSY_BODY = json.dumps(
    {"title": "Service unavailable", "detail": "Too many connections; retry shortly.", "status": 503}
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Busy(asyncio.Protocol):
    """Answers 503 to a connection over the cap and closes it, without reading the request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's transports are not asyncio.WriteTransport subclasses.
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(_BUSY)
        writer.close()


class LimitedSite(web.TCPSite):
    """A TCPSite that caps live connections and bounds the TLS handshake."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: ServerLimits,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reuse_address: bool = True,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=reuse_address)
        self.limits = limits

    def _protocol(self, server: Server) -> asyncio.Protocol:
        if len(server.connections) >= self.limits.max_connections:
            return _Busy()
        return server()

    async def start(self) -> None:
        """Listen like TCPSite.start, through the capped protocol factory."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert isinstance(server, Server)
        # asyncio refuses ssl_handshake_timeout on a plain socket.
        handshake = self.limits.handshake_timeout if self._ssl_context else None
        self._server = self._listening = await asyncio.get_running_loop().create_server(
            lambda: self._protocol(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            ssl_handshake_timeout=handshake,
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        port: int = self._listening.sockets[0].getsockname()[1]
        return port
