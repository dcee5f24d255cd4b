"""One client connection in the role of HTTP.sys: read heads, enforce limits, route, proxy to a worker.

Design (reverse proxy over unix sockets, not fd passing): the supervisor stays on the byte path so that
TLS termination, maxBandwidth, maxConnections, exact byte counters, W3C logging and per-request routing
of keep-alive connections across pools live in one place, and a recycle never closes a client connection
(new requests go to the new worker while the old one drains its own unix connections). Workers send large
files with sendfile(2) into the unix socket, and on plain-TCP connections without maxBandwidth the supervisor
relays such Content-Length bodies with splice(2) (worker socket -> pipe -> client) instead of copying them
through Python (exchange.py, splice.py, upstream.py); bench/embedded_* measures the cost. A plain-HTTP
keep-alive connection may leave the relay for a worker that accepts handoffs (handoff.py): `handed_off`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent.hosting.embedded import http1
from agent.hosting.embedded.supervisor import cache_hit, handoff
from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.dispatch import ClientGone, Dispatch, ListenerLike
from agent.hosting.embedded.supervisor.exchange import Exchange
from agent.hosting.embedded.supervisor.response_cache import Entry
from agent.hosting.embedded.supervisor.sites import SiteRuntime

log = logging.getLogger("iisfleet.hosting.http")
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20


class Connection:
    """Serves the requests of one accepted client connection in order."""

    def __init__(self, listener: ListenerLike, dispatch: Dispatch, stream: ClientStream,
                 site: SiteRuntime | None = None) -> None:  # fmt: skip
        self.listener = listener
        self.dispatch = dispatch
        self.stream = stream
        peer = stream.get_extra_info("peername") or ("", 0)
        local = stream.get_extra_info("sockname") or ("", 0)
        self.client_ip, self.client_port = str(peer[0]), int(peer[1])
        self.local_ip, self.local_port = str(local[0]), int(local[1])
        self.tls = stream.get_extra_info("sslcontext") is not None
        # The site whose maxConnections slot this connection holds (preset: a handback keeps its slot).
        self.site: SiteRuntime | None = site
        self.handed_off = False  # a worker holds the connection now (handoff.py): its slot went with it
        # A worker handed this connection back: its next request stays on the relay, so that a worker whose
        # routing disagrees (an older configuration) cannot bounce it back and forth.
        self.relay_next = site is not None
        # A request data_received parsed and counted but could not answer inline: (its head bytes, exchange).
        self.pending: tuple[bytes, Exchange, Entry | None] | None = None
        if dispatch.cache.enabled:
            stream.inline = lambda: cache_hit.answer(self)

    async def serve(self) -> None:
        """Loop over keep-alive requests until either side closes."""
        try:
            while await self._one():
                pass
        except (ClientGone, ConnectionError, TimeoutError):
            pass
        finally:
            if self.site is not None and not self.handed_off:
                self.site.counters.connections_current -= 1
            self.stream.inline = None
            self.stream.close()
            with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                async with asyncio.timeout(5):
                    await self.stream.wait_closed()

    async def send(self, data: bytes, site: SiteRuntime | None = None) -> None:
        if site is not None:
            await site.throttle.consume(len(data))
            site.counters.bytes_sent += len(data)
        self.stream.write(data)
        async with asyncio.timeout(self.listener.timeout()):
            await self.stream.drain()

    async def _read_head(self) -> bytes | None:
        try:
            data = await self.stream.read_head(self.listener.timeout())
        except TimeoutError:
            return None  # idle keep-alive or a slow (slowloris) client: HTTP.sys just closes
        except asyncio.IncompleteReadError as err:
            if err.partial.strip():
                await self._reject(http1.BadRequest(400, "Bad Request", "The request is badly formed."))
            return None
        except asyncio.LimitOverrunError:
            await self._reject(http1.BadRequest(400, "Bad Request - Request Too Long",
                                                "The size of the request headers is too long."))  # fmt: skip
            return None
        return data.lstrip(b"\r\n")

    async def _reject(self, err: http1.BadRequest) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            await self.send(http1.error_response(err.status, err.reason, err.message))
            # Lingering close: closing with unread input makes the kernel send RST, which can destroy the
            # error response before the client reads it. Half-close, then discard input for a moment.
            if self.stream.can_write_eof():
                self.stream.write_eof()
            async with asyncio.timeout(LINGER_SECONDS):
                discarded = 0
                while discarded < LINGER_BYTES and (chunk := await self.stream.read(65536)):
                    discarded += len(chunk)

    async def _one(self) -> bool:
        data = await self._read_head()
        if data is None:
            return False
        pending, self.pending = self.pending, None
        if pending is not None and pending[0] == data:
            # counted and looked up already, by cache_hit.answer
            if pending[2] is None and self._hand_off(pending[1], data, self.destination(pending[1])):
                return False
            return await pending[1].resume(pending[2])
        try:
            if len(data) > http1.MAX_HEAD_BYTES:
                raise http1.BadRequest(400, "Bad Request - Request Too Long",
                                       "The size of the request headers is too long.")  # fmt: skip
            head = http1.parse_head(data)
        except http1.BadRequest as err:
            await self._reject(err)
            return False
        site = self.listener.route(http1.host_name(head.host))
        if site is None:
            await self._reject(http1.BadRequest(400, "Bad Request - Invalid Hostname",
                                                "The request hostname is invalid."))  # fmt: skip
            return False
        if self.site is None and not self.admit(site):
            site.counters.connection_attempts_refused += 1
            await self.send(http1.service_unavailable(close=True))
            return False
        exchange = Exchange(self, site, head, len(data))
        found = self.destination(exchange)
        entry = exchange.begin(lookup=found is None)
        if entry is None and self._hand_off(exchange, data, found):
            return False  # the worker serves this connection from here on
        return await exchange.resume(entry)

    def destination(self, exchange: Exchange) -> handoff.Destination | None:
        """Where this request's connection goes (a worker, which then answers even a cache hit itself); None when
        it stays on the relay."""
        return None if self.relay_next else handoff.destination(self, exchange)

    def _hand_off(self, exchange: Exchange, head: bytes, found: handoff.Destination | None) -> bool:
        if self.relay_next:
            self.relay_next = False
            return False
        return found is not None and handoff.try_handoff(self, exchange, head, found)

    def admit(self, site: SiteRuntime) -> bool:
        """Count the connection against the site of its first request; False when maxConnections is reached."""
        if site.counters.connections_current >= site.spec.max_connections:
            return False
        self.site = site
        site.counters.connections_current += 1
        site.counters.connections_total += 1
        return True
