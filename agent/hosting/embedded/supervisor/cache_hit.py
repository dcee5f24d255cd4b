"""Response-cache hits answered inside data_received, without waking the connection's task.

A hit is the cheapest request the host serves (one lookup, one write); the task switch, the head-read future
and the drain around it cost more than the hit itself. So when a complete head arrives while the connection
waits at a request boundary, `answer` parses, routes, counts and looks it up on the spot, exactly as
Connection._one and Exchange.run would. Anything else (a miss, a body, a bad head, a refusal, a throttled
site, Connection: close) goes to the task as before; a counted miss (or a hit on a large file, which
sendfile sends) goes with its Exchange, so nothing is counted twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.hosting.embedded import http1
from agent.hosting.embedded.supervisor.exchange import Exchange
from agent.hosting.embedded.supervisor.sites import UNLIMITED

if TYPE_CHECKING:
    from agent.hosting.embedded.supervisor.connection import Connection


def answer(conn: Connection) -> bool:
    """True when the request at the start of the client buffer was answered from the cache (and consumed)."""
    stream = conn.stream
    buf = stream.buf
    end = buf.find(b"\r\n\r\n")
    if end < 0 or end + 4 > http1.MAX_HEAD_BYTES or buf.startswith(b"\r\n") or stream.transport.is_closing():
        return False
    raw = bytes(buf[: end + 4])
    try:
        head = http1.parse_head_cached(raw)
    except http1.BadRequest:
        return False
    if head.chunked or head.content_length or not head.keep_alive:
        return False
    site = conn.listener.route(http1.host_name(head.host))
    if site is None or 0 < site.throttle.rate < UNLIMITED:  # maxBandwidth waits: the task's path
        return False
    if conn.site is None and not conn.admit(site):
        return False  # the task refuses it (503) as usual
    exchange = Exchange(conn, site, head, len(raw))
    entry = exchange.begin(lookup=conn.destination(exchange) is None)
    if entry is None or entry.dev >= 0:
        # Counted and looked up: the task serves it from here (Connection._one matches the head bytes): a miss,
        # or a hit on a file entry (sendfile waits for the client).
        conn.pending = (raw, exchange, entry)
        stream.parked = False
        return False
    del buf[: end + 4]
    exchange.serve_cached_now(entry)
    return True
