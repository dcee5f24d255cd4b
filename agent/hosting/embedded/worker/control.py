"""The worker's end of its handoff control socket (handoff_wire.py): hello, handed-off connections, drain, close.

The supervisor's end is supervisor/handoff_channel.py. A `handoff` becomes a DirectConnection (worker/direct.py)
on the event loop; `drain` makes every connection go back at its next request boundary (the idle ones at once)
and sends any new handoff straight back; `close` drops the named connections. Every handoff ends in exactly
one `handback` or `closed` (DirectConnection.end). Records are the per-request hot path: each request's row is
encoded as text (`record_encoder`, not a dataclass through asdict), the rows of one event-loop turn leave in one
packet (`queue`, `flush`), and only then do the answers they count go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as quote
from typing import TYPE_CHECKING

from agent.hosting.embedded import handoff_wire
from agent.hosting.embedded.handoff_wire import Close, Closed, Drain, Handback, Handoff, Hello, Message
from agent.hosting.embedded.http1 import RequestHead, remember
from agent.hosting.embedded.worker.direct import DirectConnection
from agent.hosting.embedded.worker.direct_cache import DirectCache

if TYPE_CHECKING:
    from agent.hosting.embedded.worker.app import WorkerApp

log = logging.getLogger("iisfleet.hosting.worker")

RecordFn = Callable[[RequestHead, bytes, int, int, int, int, float, str, bool, bool, Callable[[], None]], None]
"""record(head, raw head, status, substatus, win32, bytes sent, monotonic start, user, logged, hit, release)."""
# A batch of rows is sent at once past this size, well inside one packet (handoff_wire.MAX_MESSAGE).
BATCH_BYTES = 64 * 1024


def wanted(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Whether this worker should say hello: handoff not switched off in the agent's environment."""
    return environ.get(handoff_wire.SWITCH, "1") != "0"


def _quoted_parts(head: RequestHead) -> tuple[str, str]:
    """The record fields a head decides, JSON-quoted: (method, path, query, host) and (agent, cookie, referer)."""
    return (
        f"{quote(head.method)},{quote(head.path)},{quote(head.query)},{quote(head.host)}",
        f'{quote(head.header("user-agent") or "")},{quote(head.header("cookie") or "")},'
        f'{quote(head.header("referer") or "")}',
    )


class Control:
    """The control socket and the handed-off connections this worker holds."""

    def __init__(self, sock: socket.socket, app: WorkerApp, cache: DirectCache | None = None) -> None:
        self.sock: socket.socket | None = sock
        self.app = app
        self.cache = cache  # this worker's answer cache (direct_cache.py); None: the pipeline answers every request
        self.draining = False
        self.conns: dict[int, DirectConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self.records: socket.socket | None = None  # the records socket, once the hello has passed it on
        self._rows: list[str] = []
        self._quoted: dict[bytes, tuple[str, str]] = {}  # a head's JSON-quoted record fields, by its bytes
        self._releases: list[Callable[[], None]] = []
        self._batch_bytes = 0
        self._flush_scheduled = False
        self._sweeper: asyncio.TimerHandle | None = None
        self._config_stamp: tuple[int, int] | None = None
        self._config_stamp_taken = False
        sock.setblocking(False)

    def start(self, hello: bool) -> None:
        """Listen for the supervisor's messages; say hello when this worker is to serve handed-off clients. The
        hello carries the supervisor's end of the records socket (handoff_wire: read when the supervisor needs
        counters, not on every packet)."""
        assert self.sock is not None
        self._loop.add_reader(self.sock.fileno(), self._readable)
        if hello:
            ours, theirs = handoff_wire.socketpair()
            ours.setblocking(False)
            if self._send(handoff_wire.encode(Hello()), theirs.fileno()):
                self.records = ours
            else:
                ours.close()
            theirs.close()

    # messages from the supervisor

    def _readable(self) -> None:
        while self.sock is not None:
            try:
                received = handoff_wire.receive(self.sock)
            except BlockingIOError:
                return
            except handoff_wire.WireError as err:
                log.warning("bad control message from the supervisor: %s", err)
                continue
            except OSError:
                received = None
            if received is None:  # the supervisor is gone; stdin's EOF stops the worker
                self._loop.remove_reader(self.sock.fileno())
                return
            self._on(*received)

    def _on(self, message: Message, fd: int) -> None:
        if isinstance(message, Handoff) and fd >= 0:
            self._accept(message, fd)
            return
        if fd >= 0:
            os.close(fd)
        if isinstance(message, Drain):
            self.draining = True
            for conn in list(self.conns.values()):
                conn.wake()  # those waiting for a head go back now, busy ones after their answer
        elif isinstance(message, Close):
            for conn_id in message.conns:
                if (named := self.conns.get(conn_id)) is not None:
                    named.close_now()
        else:
            log.warning("unexpected %s message on the control socket", message.kind)

    def _accept(self, message: Handoff, fd: int) -> None:
        if self.draining:  # too late: straight back, unread
            if not self.hand_back(message.conn, message.data, fd):
                self.closed(message.conn)
            os.close(fd)
            return
        self.app.follow(message.config)
        task = self._loop.create_task(self._serve(message, socket.socket(fileno=fd)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: Handoff, sock: socket.socket) -> None:
        try:
            _, conn = await self._loop.connect_accepted_socket(
                lambda: DirectConnection(self, self.app, message, sock), sock=sock
            )
        except OSError as err:
            log.debug("handed-off connection %d could not be taken: %s", message.conn, err)
            sock.close()
            self.closed(message.conn)
            return
        self.conns[message.conn] = conn
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(handoff_wire.BUSY_AFTER, self._sweep)
        await conn.serve()

    # messages to the supervisor

    def forget(self, conn: DirectConnection) -> None:
        """A connection is leaving this worker."""
        self.conns.pop(conn.message.conn, None)

    def hand_back(self, conn: int, data: bytes, fd: int) -> bool:
        """Return a connection and its unconsumed bytes; False when it could not be sent."""
        self.flush()  # its records first: the supervisor forgets the connection on a handback
        try:
            return self._send(handoff_wire.encode(Handback(conn, data)), fd)
        except handoff_wire.WireError:
            return False

    def closed(self, conn: int) -> None:
        """Tell the supervisor this worker closed a connection."""
        self.flush()  # its records first: the supervisor forgets the connection on `closed`
        self._send(handoff_wire.encode(Closed(conn)))

    def record_encoder(self, message: Handoff) -> RecordFn:
        """The record writer of one connection: its row joins this turn's batch (`queue`)."""
        prefix = f"[{int(message.conn)},"
        queue = self.queue
        quoted = self._quoted

        def record(head: RequestHead, raw: bytes, status: int, substatus: int, win32: int, sent: int, started: float,
                   user: str, logged: bool, hit: bool, release: Callable[[], None]) -> None:  # fmt: skip
            taken = int((time.monotonic() - started) * 1000)
            parts = quoted.get(raw)
            if parts is None:
                parts = remember(quoted, raw, _quoted_parts(head))
            queue(
                f"{prefix}{parts[0]},{status},{substatus},{win32},{sent},{len(raw)},{taken},{quote(user)},{parts[1]},"
                f'{"true" if logged else "false"},{"true" if hit else "false"}]',
                release,
            )

        return record

    def queue(self, row: str, release: Callable[[], None]) -> None:
        """Add a request's row to this turn's batch; `release` (its answer's held bytes) runs once the batch has
        left. The batch goes at the end of the event loop's turn, or at once when it grows large."""
        self._rows.append(row)
        self._releases.append(release)
        self._batch_bytes += len(row)
        if self._batch_bytes >= BATCH_BYTES:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def config_stamp(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of applicationHost.config (None when it cannot be stat'ed), taken once per event-loop
        turn and shared by the requests served in it (one stat per turn, not per request): a configuration
        change is seen by every request the loop reads after the turn in which it landed."""
        if not self._config_stamp_taken:
            try:
                st = os.stat(self.app.store.path)
                self._config_stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                self._config_stamp = None
            self._config_stamp_taken = True
            self._loop.call_soon(self._forget_config_stamp)
        return self._config_stamp

    def _forget_config_stamp(self) -> None:
        self._config_stamp_taken = False

    def flush(self) -> None:
        """Send the batched rows in one packet, then release the answers they account for."""
        self._flush_scheduled = False
        if not self._rows:
            return
        rows, releases = self._rows, self._releases
        self._rows, self._releases, self._batch_bytes = [], [], 0
        self._send_lazy(handoff_wire.encode_rows(rows))
        for release in releases:
            release()

    def _send_lazy(self, packet: bytes) -> None:
        """A packet for the records socket (control socket when full)."""
        try:
            if self.records is None:
                raise BlockingIOError
            handoff_wire.send_packet(self.records, packet)
        except (BlockingIOError, handoff_wire.WireError):
            # Full (or none): this batch goes on the control socket, which wakes the supervisor; it drains the
            # records socket before any control message, so the order holds and the next batches fit again.
            self._send(packet)
        except OSError:
            self.records = None
            self._send(packet)

    def _sweep(self) -> None:
        """Report the requests that have run longer than BUSY_AFTER since the last sweep (once each), so that
        the supervisor lists them among the requests in flight; every BUSY_AFTER while connections are held."""
        self._sweeper = None
        now = time.monotonic()
        rows = []
        for conn in self.conns.values():
            serving = conn.serving
            if serving is not None and not conn.reported and now - serving[3] >= handoff_wire.BUSY_AFTER:
                conn.reported = True
                method, url, host, started = serving
                rows.append(handoff_wire.Busy(conn.message.conn, method, url, host, int((now - started) * 1000)))
        if rows:
            self.flush()  # the records of earlier requests first: a record ends its connection's busy entry
            self._send_lazy(handoff_wire.encode(handoff_wire.BusyRequests(rows)))
        if self.conns:
            self._sweeper = self._loop.call_later(handoff_wire.BUSY_AFTER, self._sweep)

    def _send(self, packet: bytes, fd: int = -1) -> bool:
        """One packet (with `fd`), waiting for room when the supervisor is behind; False when the socket is gone."""
        sock = self.sock
        if sock is None:
            return False
        while True:
            try:
                handoff_wire.send_packet(sock, packet, fd)  # WireError when it cannot fit a packet
                return True
            except BlockingIOError:
                # The supervisor reads on its event loop and never blocks on us: a short wait, not a deadlock.
                select.select([], [sock], [], 1.0)
            except OSError as err:
                log.debug("control socket send failed: %s", err)
                return False

    async def close(self, grace: float) -> None:
        """Worker shutdown: busy connections get `grace` seconds, then every connection is closed."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.draining = True
        for conn in list(self.conns.values()):
            conn.wake()
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self.conns.values()):
            conn.close_now()
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        if self.records is not None:
            self.records.close()
            self.records = None
