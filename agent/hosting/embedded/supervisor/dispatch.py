"""What a client connection, its exchanges and its listener need of each other and of the supervisor.

Protocols rather than imports, so that connection.py, exchange.py and listener.py need not import each other
both ways (EmbeddedHost, Listener and Connection are the implementations).
"""

from __future__ import annotations

import socket
from typing import Protocol

from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.handoff import Handoffs
from agent.hosting.embedded.supervisor.pool import AppPool
from agent.hosting.embedded.supervisor.response_cache import ResponseCache
from agent.hosting.embedded.supervisor.sites import InFlight, SiteRuntime


class ClientGone(Exception):
    """The client closed the connection or stopped sending mid-request."""


class Dispatch(Protocol):
    """What a connection needs from the supervisor."""

    config_version: str
    inflight: dict[int, InFlight]
    cache: ResponseCache
    handoffs: Handoffs

    def pool(self, name: str) -> AppPool | None:
        """The runtime pool by name (case-insensitive)."""
        ...


class ListenerLike(Protocol):
    """What a connection needs from its listener."""

    def route(self, host: str) -> SiteRuntime | None:
        """The site bound to this endpoint for a host name."""
        ...

    def timeout(self) -> float:
        """Header-wait / keep-alive idle timeout in seconds."""
        ...

    def hosts(self) -> dict[str, str]:
        """Host name -> site name of the sites bound here ("" for any host), for a worker to route by."""
        ...

    def resume(self, sock: socket.socket, data: bytes, site: SiteRuntime) -> bool:
        """Serve a connection a worker handed back, starting with `data`, its slot already counted on `site`;
        False when this endpoint no longer serves the site."""
        ...


class Client(Protocol):
    """What an exchange needs of the client connection it serves."""

    dispatch: Dispatch
    listener: ListenerLike
    stream: ClientStream
    client_ip: str
    client_port: int
    local_ip: str
    local_port: int
    tls: bool

    async def send(self, data: bytes, site: SiteRuntime | None = None) -> None:
        """Write to the client (throttled and counted against `site`)."""
        ...
