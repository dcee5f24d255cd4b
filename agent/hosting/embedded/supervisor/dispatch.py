"""What a client connection, its exchanges and its listener need of each other and of the supervisor.

Protocols rather than imports, so that connection.py, exchange.py and listener.py need not import each other
both ways (EmbeddedHost, Listener and Connection are the implementations).
"""

from __future__ import annotations

from typing import Protocol

from agent.hosting.embedded.supervisor.client_stream import ClientStream
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
