"""Connection handoff, the supervisor's side: when a client connection goes to a worker, and its accounting.

After routing a request, `Connection` asks whether its connection will leave (`destination`): such a request is
not looked up in the response cache, because the worker keeps its own copy of the cache for the connections it
holds (worker/direct_cache.py) and answers hits there. It then calls `try_handoff`. When the connection may leave
the relay (`_refusal` is the list of reasons it may not), the client descriptor and every byte already read go to a
worker of the request's pool over its control socket (handoff_wire.py, handoff_channel.py), and the
supervisor closes its own copy. A `HandedOff` entry then stands for the connection: it holds the
maxConnections slot (connections_current) until the worker says `closed`, hands it back, or dies, and it turns
the worker's `record`s into the site's counters and W3C lines.

Counting: `Exchange.begin` has already counted the first request (requests_total, method, its head's bytes,
requests_active, the cache miss) before the handoff, so that request's record adds only what begin could not
know (status, bytes sent, the body's bytes) and ends requests_active. Later requests are counted whole from
their records; requests_active does not include them (the worker keeps its own in-flight table), and they
are not in the API's requests-in-flight list. A handback of the first request itself (the worker began
draining while the handoff was on its way) takes begin's counts back, as the resumed connection counts it anew.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.hosting.embedded import handoff_wire
from agent.hosting.embedded.handoff_wire import Busy, Handoff, Record
from agent.hosting.embedded.supervisor.sites import UNLIMITED, InFlight, SiteRuntime, new_request_id
from agent.hosting.runtime_types import COUNTED_METHODS, RuntimeStatus

if TYPE_CHECKING:
    from agent.hosting.embedded.supervisor.connection import Connection
    from agent.hosting.embedded.supervisor.dispatch import ListenerLike
    from agent.hosting.embedded.supervisor.exchange import Exchange
    from agent.hosting.embedded.supervisor.handoff_channel import HandoffChannel
    from agent.hosting.embedded.supervisor.pool import AppPool
    from agent.hosting.embedded.supervisor.response_cache import ResponseCache

_IDS = itertools.count(1)
Destination = tuple["AppPool", "HandoffChannel"]
"""Where a connection goes: the request's pool and the worker's control channel (`destination`)."""


@dataclass(slots=True, eq=False)
class HandedOff:
    """A client connection a worker serves: its slot, its routing, and whether its first request is open."""

    id: int
    registry: Handoffs
    channel: HandoffChannel
    site: SiteRuntime
    listener: ListenerLike
    pool: AppPool
    cache: ResponseCache
    client: tuple[str, int]
    local: tuple[str, int]
    head_size: int
    method: str
    inflight: dict[int, InFlight]  # the supervisor's requests in flight, where a long-running request is listed
    first: bool = True  # the first request's record has not come: begin's counts are still open
    busy: InFlight | None = None  # the request the worker reported as running long (BusyRequests)


class Handoffs:
    """Every handed-off connection of one supervisor, and the switch."""

    def __init__(self) -> None:
        self.enabled = os.environ.get(handoff_wire.SWITCH, "1") != "0"
        self.entries: dict[int, HandedOff] = {}

    def pump(self) -> None:
        """Take in every message the workers have sent (non-blocking), so counters and logs are exact now."""
        for channel in {entry.channel for entry in self.entries.values()}:
            channel.pump()

    def close_site(self, site: SiteRuntime, listener: ListenerLike | None = None) -> None:
        """Ask the workers to close the site's handed-off connections (of one listener, when given)."""
        by_channel: dict[HandoffChannel, list[int]] = {}
        for entry in self.entries.values():
            if entry.site is site and (listener is None or entry.listener is listener):
                by_channel.setdefault(entry.channel, []).append(entry.id)
        for channel, conns in by_channel.items():
            channel.close_connections(conns)


def _refusal(conn: Connection, exchange: Exchange) -> str:
    """Why this connection stays on the relay ("" when it may be handed off)."""
    site, head = exchange.site, exchange.head
    if not conn.dispatch.handoffs.enabled:
        return "switched off"
    if conn.tls:
        return "TLS"  # Python's ssl exports no traffic keys: the session cannot move
    if 0 < site.throttle.rate < UNLIMITED:
        return "maxBandwidth"
    if not head.keep_alive or not exchange.body_done:
        return "not keep-alive, or a request body"
    transport = conn.stream.transport
    if transport.get_write_buffer_size() or transport.is_closing() or transport.get_extra_info("socket") is None:
        return "unsent bytes"
    return ""


def _channel(pool: AppPool | None) -> HandoffChannel | None:
    """The least loaded accepting channel of a RUNNING worker of a started pool."""
    if pool is None or pool.state != RuntimeStatus.STARTED:
        return None
    best: HandoffChannel | None = None
    for worker in pool.workers:
        channel = worker.channel
        if channel is not None and channel.accepting and (best is None or len(channel.entries) < len(best.entries)):
            best = channel
    return best


def destination(conn: Connection, exchange: Exchange) -> Destination | None:
    """The pool and worker channel this request's connection would go to now; None when it stays on the relay."""
    if _refusal(conn, exchange):
        return None
    app = exchange.site.match_app(exchange.head.path)
    pool = conn.dispatch.pool(app.pool) if app is not None else None
    channel = _channel(pool)
    if channel is None or pool is None:
        return None
    if channel.entries and pool.can_grow():
        # Even the least loaded worker holds connections and the web garden has room: start a worker, and keep
        # this request on the relay. The connection leaves at a later request, to the least loaded worker then,
        # so a burst of new connections spreads over the garden instead of piling onto its first worker.
        pool.grow()
        return None
    return pool, channel


def try_handoff(conn: Connection, exchange: Exchange, head_bytes: bytes, found: Destination) -> bool:
    """Hand the connection and its first request (`head_bytes` plus whatever is buffered behind it) to the worker
    `destination` found; True when the worker has it (the caller then leaves the connection)."""
    pool, channel = found
    site, head = exchange.site, exchange.head
    stream = conn.stream
    entry = HandedOff(
        next(_IDS), conn.dispatch.handoffs, channel, site, conn.listener, pool, conn.dispatch.cache,
        (conn.client_ip, conn.client_port), (conn.local_ip, conn.local_port), exchange.received, head.method,
        conn.dispatch.inflight,
    )  # fmt: skip
    message = Handoff(
        entry.id, site.spec.name, site.spec.id, pool.spec.name, entry.client, entry.local,
        conn.dispatch.config_version, conn.listener.timeout(), conn.listener.hosts(), head_bytes + bytes(stream.buf),
    )  # fmt: skip
    if not channel.send(message, stream.transport.get_extra_info("socket").fileno()):
        return False
    # The worker holds the connection now. Forget what was buffered and drop our descriptor (abort closes it at
    # once, without a FIN: the worker's copy keeps the connection open).
    stream.buf.clear()
    conn.handed_off = True
    stream.transport.abort()
    channel.add(entry)
    pool.requests_total += 1
    pool.last_request = time.monotonic()
    channel.worker.requests_total += 1
    return True


def list_busy(entry: HandedOff, busy: Busy) -> None:
    """List a request the worker reports as running long among the requests in flight (until its record)."""
    if entry.busy is not None:
        return
    client = f"{entry.client[0]}:{entry.client[1]}"
    entry.busy = InFlight(new_request_id(), busy.method, busy.url, busy.host, client, entry.site.spec.name,
                          entry.pool.spec.name, time.time() - busy.elapsed_ms / 1000, "ExecuteRequestHandler",
                          entry.channel.worker.pid)  # fmt: skip
    entry.inflight[entry.busy.id] = entry.busy


def unlist_busy(entry: HandedOff) -> None:
    """The long-running request ended (its record came, or the connection left the worker)."""
    if entry.busy is not None:
        entry.inflight.pop(entry.busy.id, None)
        entry.busy = None


def apply_record(entry: HandedOff, record: Record) -> None:
    """Count one request a worker served on a handed-off connection and write its W3C line."""
    unlist_busy(entry)
    site, pool = entry.site, entry.pool
    counters = site.counters
    received = record.bytes_received
    if entry.first:  # begin counted this request and its head already
        entry.first = False
        counters.requests_active -= 1
        received -= entry.head_size
    else:
        counters.requests_total += 1
        if (method := record.method) in COUNTED_METHODS:
            counters.method_counts[method] = counters.method_counts.get(method, 0) + 1
        cache = entry.cache
        if cache.enabled:  # requests_total = hits + misses, whoever answered from the cache
            if record.hit:
                cache.hits += 1
                counters.cache_hits += 1
            else:
                cache.misses += 1
                counters.cache_misses += 1
        pool.requests_total += 1
        entry.channel.worker.requests_total += 1
    counters.bytes_received += received
    counters.bytes_sent += record.bytes_sent
    site.count_status(record.status)
    pool.last_request = time.monotonic()
    if record.log and record.status:
        site.log.write_values(
            entry.local[0], record.method, record.uri_stem, record.uri_query, entry.local[1], record.username,
            entry.client[0], "HTTP/1.1", record.user_agent, record.cookie, record.referer, record.host, record.status,
            record.substatus, record.win32, record.bytes_sent, record.bytes_received, record.time_taken_ms,
        )  # fmt: skip


def release(entry: HandedOff, *, handed_back: bool) -> None:
    """The connection left the worker: free its slot (unless it comes back to a Connection, which keeps it), and
    close begin's counts of a first request the worker never answered."""
    unlist_busy(entry)
    counters = entry.site.counters
    if entry.first:
        entry.first = False
        counters.requests_active -= 1
        if handed_back:  # the resumed Connection counts the request again
            counters.requests_total -= 1
            if entry.method in COUNTED_METHODS:
                counters.method_counts[entry.method] -= 1
            counters.bytes_received -= entry.head_size
            if entry.cache.enabled:
                entry.cache.misses -= 1
                counters.cache_misses -= 1
            entry.pool.requests_total -= 1
            entry.channel.worker.requests_total -= 1
    if not handed_back:
        counters.connections_current -= 1
