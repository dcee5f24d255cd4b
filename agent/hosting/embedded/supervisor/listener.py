"""A listening endpoint (protocol, ip, port) shared by every started site bound to it, routed by host name."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from agent.hosting.embedded import http1
from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.connection import Connection
from agent.hosting.embedded.supervisor.dispatch import Dispatch
from agent.hosting.embedded.supervisor.sites import SiteRuntime

log = logging.getLogger("iisfleet.hosting.listener")


class Listener:
    """An asyncio server for one endpoint and the host-name table of the sites on it."""

    def __init__(self, protocol: str, ip: str, port: int, dispatch: Dispatch,
                 tls: TlsCertificates | None = None) -> None:  # fmt: skip
        self.protocol = protocol
        self.ip = ip
        self.port = port
        self.dispatch = dispatch
        self.tls = tls
        self.ssl_context = tls.server if tls is not None else None
        self.sites: dict[str, SiteRuntime] = {}
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(protocol, ip, port)."""
        return (self.protocol, self.ip, self.port)

    async def open(self) -> None:
        """Bind and listen; OSError (port in use, bad address) propagates."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: ClientStream(self._accept, http1.MAX_HEAD_BYTES), self.ip, self.port, ssl=self.ssl_context,
            reuse_address=True, backlog=1024, ssl_handshake_timeout=10 if self.ssl_context else None,
        )  # fmt: skip

    async def _accept(self, stream: ClientStream, site: SiteRuntime | None = None) -> None:
        conn = Connection(self, self.dispatch, stream, site)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)

    def route(self, host: str) -> SiteRuntime | None:
        """The site for a host name: an exact binding host first, then the empty (any host) binding."""
        return self.sites.get(host) or self.sites.get("")

    def hosts(self) -> dict[str, str]:
        """Host name -> site name of the sites bound here ("" for any host), for a worker to route by."""
        return {host: site.spec.name for host, site in self.sites.items()}

    def resume(self, sock: socket.socket, data: bytes, site: SiteRuntime) -> bool:
        """Serve a connection a worker handed back (handoff_channel.py), starting with `data`; the connection
        keeps the slot it holds on `site`. False when this endpoint no longer serves the site."""
        if self.server is None or site not in self.sites.values():
            return False
        loop = asyncio.get_running_loop()

        async def serve(stream: ClientStream) -> None:
            await self._accept(stream, site)

        task = loop.create_task(loop.connect_accepted_socket(
            lambda: ClientStream(serve, http1.MAX_HEAD_BYTES, data), sock=sock,
        ))  # fmt: skip
        task.add_done_callback(lambda t: _resumed(t, sock, site))
        return True

    def timeout(self) -> float:
        """The smallest connectionTimeout of the sites bound here."""
        return min((s.spec.connection_timeout for s in self.sites.values()), default=120.0) or 120.0

    def drop_site(self, site: SiteRuntime) -> None:
        """Unbind a site's host names and cut its open connections."""
        for host in [h for h, s in self.sites.items() if s is site]:
            del self.sites[host]
            if self.tls is not None:
                self.tls.remove(host)
        for conn in list(self.connections):
            if conn.site is site:
                conn.stream.transport.abort()
        self.dispatch.handoffs.close_site(site, self)

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        if self.server is not None:
            self.server.close()
            for conn in list(self.connections):
                conn.stream.transport.abort()
            for site in set(self.sites.values()):
                self.dispatch.handoffs.close_site(site, self)
            await self.server.wait_closed()
            self.server = None


def _resumed(task: asyncio.Task[object], sock: socket.socket, site: SiteRuntime) -> None:
    if task.cancelled() or task.exception() is not None:  # no Connection took the slot over
        log.warning("a handed-back connection could not be resumed")
        sock.close()
        site.counters.connections_current -= 1


def find_certificate(state_dir: Path, name: str, store: str = "") -> Path:
    """The PEM of a binding: state_dir/certificates/<store>/<NAME>.pem, then any store, then default.pem.

    `name` is the binding's certificateHash (or host name) and `store` its certificateStoreName; the API's
    certificate stores (agent/certificates) are the sub-directories, holding `<THUMBPRINT>.pem` files.
    """
    folder = state_dir / "certificates"
    stores = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    candidates: list[Path] = []
    if name:
        candidates += [d / f"{name.upper()}.pem" for d in stores if store and d.name.lower() == store.lower()]
        candidates.append(folder / f"{name}.pem")
        candidates += [d / f"{name.upper()}.pem" for d in stores]
    candidates.append(folder / "default.pem")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no certificate {name or 'default'!r} in {folder} (expected {candidates[0].name})")


def server_context(path: Path) -> ssl.SSLContext:
    """A TLS server context with the certificate chain and key of one PEM file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(path)
    return context


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass(slots=True)
class _Loaded:
    name: str
    store: str
    sni: bool
    path: Path
    stamp: tuple[int, int, int]
    context: ssl.SSLContext


class TlsCertificates:
    """The certificates of one https endpoint by binding host name, chosen per handshake by SNI.

    Each https binding's certificate (certificateHash in certificateStoreName) is loaded once into its own
    SSLContext; the endpoint's server context has an sni_callback that switches the connection to the context
    of the requested host name, else to the binding without a host name, else to the first binding. refresh()
    (every host poll and every configuration generation) reloads a PEM file whose mtime, size or inode changed.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.hosts: dict[str, _Loaded] = {}
        self.server: ssl.SSLContext | None = None

    def add(self, host: str, name: str, store: str, sni: bool = False) -> None:
        """Load (or reuse) the certificate of a binding; OSError / ssl.SSLError when it cannot be used."""
        path = find_certificate(self.state_dir, name, store)
        current = self.hosts.get(host)
        stamp = _stamp(path)
        if current is not None and (current.path, current.stamp) == (path, stamp):
            current.name, current.store, current.sni = name, store, sni
            return
        shared = next((c for c in self.hosts.values() if (c.path, c.stamp) == (path, stamp)), None)
        context = shared.context if shared is not None else server_context(path)
        self.hosts[host] = _Loaded(name, store, sni, path, stamp, context)
        if self.server is None:
            # The endpoint's context: the first certificate (used if a client somehow skips the callback).
            self.server = server_context(path)
            self.server.sni_callback = self._sni

    def remove(self, host: str) -> None:
        """Forget the certificate of a binding that went away."""
        self.hosts.pop(host, None)

    def refresh(self) -> None:
        """Reload changed PEM files (and follow a binding to a newly added store file); keep the old on errors."""
        cache: dict[Path, tuple[tuple[int, int, int], ssl.SSLContext]] = {}
        for host, loaded in list(self.hosts.items()):
            try:
                path = find_certificate(self.state_dir, loaded.name, loaded.store)
                stamp = _stamp(path)
                if (path, stamp) == (loaded.path, loaded.stamp):
                    continue
                if path not in cache or cache[path][0] != stamp:
                    cache[path] = (stamp, server_context(path))
                self.hosts[host] = _Loaded(loaded.name, loaded.store, loaded.sni, path, stamp, cache[path][1])
                log.info("reloaded certificate %s for https binding host %r", path.name, host or "*")
            except (OSError, ssl.SSLError) as err:
                log.warning("keeping the loaded certificate for host %r: %s", host or "*", err)

    def select(self, server_name: str | None) -> ssl.SSLContext | None:
        """The context for an SNI host name: exact host, then the binding without a host, then the first
        binding that does not require SNI, then the first."""
        hosts = self.hosts
        loaded = hosts.get((server_name or "").lower().rstrip(".")) or hosts.get("")
        if loaded is None and hosts:
            loaded = next((c for c in hosts.values() if not c.sni), None) or next(iter(hosts.values()))
        return loaded.context if loaded is not None else None

    def _sni(self, sslobj: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        context = self.select(server_name)
        if context is not None and sslobj.context is not context:
            sslobj.context = context
