"""The worker's end of its handoff control socket (handoff_wire.py): hello, handed-off connections, drain, close.

The supervisor's end is supervisor/handoff_channel.py. A `handoff` becomes a DirectConnection (worker/direct.py)
on the event loop; `drain` makes every connection go back at its next request boundary (the idle ones at once)
and sends any new handoff straight back; `close` drops the named connections. Every handoff ends in exactly
one `handback` or `closed` (DirectConnection.end). Records are the per-request hot path: each is one send of
a packet whose connection-constant part was encoded once (`record_encoder`), not a dataclass through asdict.
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

from agent.hosting.embedded import cache_policy, handoff_wire
from agent.hosting.embedded.handoff_wire import Close, Closed, Drain, Handback, Handoff, Hello, Message
from agent.hosting.embedded.http1 import RequestHead
from agent.hosting.embedded.worker.direct import DirectConnection

if TYPE_CHECKING:
    from agent.hosting.embedded.worker.app import WorkerApp

log = logging.getLogger("iisfleet.hosting.worker")

RecordFn = Callable[[RequestHead, bytes, int, int, int, int, float, str, bool], None]
"""record(head, raw head, status, substatus, win32, bytes sent, monotonic start, user, logged)."""


def wanted(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Whether this worker should say hello: handoff not switched off, and the supervisor's response cache off
    (a cache hit, ~31 us in the supervisor, is cheaper than any worker; a handed-off connection loses them)."""
    return environ.get(handoff_wire.SWITCH, "1") != "0" and environ.get(cache_policy.SWITCH, "1") == "0"


class Control:
    """The control socket and the handed-off connections this worker holds."""

    def __init__(self, sock: socket.socket, app: WorkerApp) -> None:
        self.sock: socket.socket | None = sock
        self.app = app
        self.draining = False
        self.conns: dict[int, DirectConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)

    def start(self, hello: bool) -> None:
        """Listen for the supervisor's messages; say hello when this worker is to serve handed-off clients."""
        assert self.sock is not None
        self._loop.add_reader(self.sock.fileno(), self._readable)
        if hello:
            self._send(handoff_wire.encode(Hello()))

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
                lambda: DirectConnection(self, self.app, message), sock=sock
            )
        except OSError as err:
            log.debug("handed-off connection %d could not be taken: %s", message.conn, err)
            sock.close()
            self.closed(message.conn)
            return
        self.conns[message.conn] = conn
        await conn.serve()

    # messages to the supervisor

    def forget(self, conn: DirectConnection) -> None:
        """A connection is leaving this worker."""
        self.conns.pop(conn.message.conn, None)

    def hand_back(self, conn: int, data: bytes, fd: int) -> bool:
        """Return a connection and its unconsumed bytes; False when it could not be sent."""
        try:
            return self._send(handoff_wire.encode(Handback(conn, data)), fd)
        except handoff_wire.WireError:
            return False

    def closed(self, conn: int) -> None:
        """Tell the supervisor this worker closed a connection."""
        self._send(handoff_wire.encode(Closed(conn)))

    def record_encoder(self, message: Handoff) -> RecordFn:
        """The record sender of one connection: the constant fields are encoded once."""
        prefix = (f'{{"kind":"record","conn":{message.conn},"site":{quote(message.site)},'
                  f'"client_ip":{quote(message.client[0])},"client_port":{int(message.client[1])},')  # fmt: skip
        send = self._send

        def record(head: RequestHead, raw: bytes, status: int, substatus: int, win32: int, sent: int,
                   started: float, user: str, logged: bool) -> None:  # fmt: skip
            taken = int((time.monotonic() - started) * 1000)
            text = (
                f'{prefix}"method":{quote(head.method)},"uri_stem":{quote(head.path)},'
                f'"uri_query":{quote(head.query)},"version":"HTTP/1.1","host":{quote(head.host)},'
                f'"status":{status},"substatus":{substatus},"win32":{win32},"bytes_sent":{sent},'
                f'"bytes_received":{len(raw)},"time_taken_ms":{taken},"username":{quote(user)},'
                f'"user_agent":{quote(head.header("user-agent") or "")},"cookie":{quote(head.header("cookie") or "")},'
                f'"referer":{quote(head.header("referer") or "")},"log":{"true" if logged else "false"}}}\n'
            )
            send(text.encode("ascii"))

        return record

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
