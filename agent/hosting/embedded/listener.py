"""A listening endpoint (protocol, ip, port) shared by every started site bound to it, routed by host name."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

from agent.hosting.embedded import http1
from agent.hosting.embedded.connection import Connection, Dispatch
from agent.hosting.embedded.runtime import SiteRuntime

log = logging.getLogger("iisfleet.hosting.listener")


class Listener:
    """An asyncio server for one endpoint and the host-name table of the sites on it."""

    def __init__(self, protocol: str, ip: str, port: int, dispatch: Dispatch,
                 ssl_context: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self.protocol = protocol
        self.ip = ip
        self.port = port
        self.dispatch = dispatch
        self.ssl_context = ssl_context
        self.sites: dict[str, SiteRuntime] = {}
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(protocol, ip, port)."""
        return (self.protocol, self.ip, self.port)

    async def open(self) -> None:
        """Bind and listen; OSError (port in use, bad address) propagates."""
        self.server = await asyncio.start_server(
            self._accept, self.ip, self.port, ssl=self.ssl_context, limit=http1.MAX_HEAD_BYTES,
            reuse_address=True, backlog=1024, ssl_handshake_timeout=10 if self.ssl_context else None,
        )  # fmt: skip

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self, self.dispatch, reader, writer)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)

    def route(self, host: str) -> SiteRuntime | None:
        """The site for a host name: an exact binding host first, then the empty (any host) binding."""
        return self.sites.get(host) or self.sites.get("")

    def timeout(self) -> float:
        """The smallest connectionTimeout of the sites bound here."""
        return min((s.spec.connection_timeout for s in self.sites.values()), default=120.0) or 120.0

    def drop_site(self, site: SiteRuntime) -> None:
        """Unbind a site's host names and cut its open connections."""
        for host in [h for h, s in self.sites.items() if s is site]:
            del self.sites[host]
        for conn in list(self.connections):
            if conn.site is site:
                conn.writer.transport.abort()

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        if self.server is not None:
            self.server.close()
            for conn in list(self.connections):
                conn.writer.transport.abort()
            await self.server.wait_closed()
            self.server = None


def load_certificate(state_dir: Path, name: str) -> ssl.SSLContext:
    """A server context from state_dir/certificates/[<store>/]<name>.pem (certificate chain and key in one PEM).

    `name` is the binding's certificateHash (or host name); the API's certificate stores (agent/certificates)
    are the sub-directories, holding `<THUMBPRINT>.pem` files.
    """
    folder = state_dir / "certificates"
    candidates = [folder / f"{name}.pem"] if name else []
    if name and folder.is_dir():
        candidates += [store / f"{name.upper()}.pem" for store in sorted(folder.iterdir()) if store.is_dir()]
    candidates.append(folder / "default.pem")
    for path in candidates:
        if path.is_file():
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(path)
            return context
    raise FileNotFoundError(f"no certificate {name or 'default'!r} in {folder} (expected {candidates[0].name})")
