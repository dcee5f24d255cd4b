"""The supervisor's end of one worker's handoff control socket (handoff_wire.py): send, and act on what comes.

Read on the event loop as messages arrive, and on demand (`pump`) before a counters snapshot or a log flush.
A worker that never says `hello` (today's worker) gets no handoffs: its connections stay on the relay. EOF
means the worker is gone: its handed-off connections died with it, so their slots are released (design
point 7).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.hosting.embedded import handoff_wire
from agent.hosting.embedded.handoff_wire import (
    BusyRequests,
    Close,
    Closed,
    Drain,
    Handback,
    Handoff,
    Hello,
    Message,
    Records,
)  # fmt: skip
from agent.hosting.embedded.supervisor import handoff
from agent.hosting.embedded.supervisor.handoff import HandedOff

if TYPE_CHECKING:
    from agent.hosting.embedded.supervisor.worker_process import WorkerProcess

log = logging.getLogger("iisfleet.hosting.handoff")


class HandoffChannel:
    """One worker's control socket and the connections it holds."""

    def __init__(self, worker: WorkerProcess, sock: socket.socket) -> None:
        self.worker = worker
        self.sock: socket.socket | None = sock
        self.supported = False  # the worker said hello
        self.draining = False
        self.entries: dict[int, HandedOff] = {}
        self.empty = asyncio.Event()  # no handed-off connection left (what a drain waits for)
        self.empty.set()
        self.records: socket.socket | None = None  # the worker's records socket (its hello passes it)
        sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self.pump)
        self._handlers: dict[type[Message], Callable[[Any, int], None]] = {
            Hello: self._on_hello, Records: self._on_records, BusyRequests: self._on_busy,
            Handback: self._on_handback, Closed: self._on_closed,
        }  # fmt: skip

    @property
    def accepting(self) -> bool:
        """Whether a new connection may be handed to this worker now."""
        from agent.hosting.embedded.supervisor.worker_process import WorkerState

        return self.supported and not self.draining and self.sock is not None and (
            self.worker.state == WorkerState.RUNNING
        )  # fmt: skip

    def send(self, message: Handoff, fd: int) -> bool:
        """Send a handoff; False (nothing sent) when the socket is full or gone."""
        if self.sock is None:
            return False
        try:
            handoff_wire.send(self.sock, message, fd)
        except (OSError, handoff_wire.WireError) as err:
            log.debug("handoff to worker pid %d not sent: %s", self.worker.pid, err)
            return False
        return True

    def add(self, entry: HandedOff) -> None:
        """Track a connection the worker now holds."""
        self.entries[entry.id] = entry
        self.empty.clear()
        entry.registry.entries[entry.id] = entry

    def drain(self) -> None:
        """No more handoffs; the worker hands its idle connections back (recycle, stop)."""
        self.draining = True
        self._control(Drain())

    def close_connections(self, conns: list[int]) -> None:
        """Ask the worker to close these connections (their site stopped)."""
        self._control(Close(conns))

    def _control(self, message: Message) -> None:
        if self.sock is None:
            return
        try:
            handoff_wire.send(self.sock, message)
        except OSError as err:
            log.warning("control message to worker pid %d failed: %s", self.worker.pid, err)

    def pump(self) -> None:
        """Act on every message waiting on the sockets (never blocks): the records first, so that a control
        message (a `closed`, a `handback`) never overtakes the records the worker sent before it."""
        self.pump_records()
        while self.sock is not None:
            try:
                received = handoff_wire.receive(self.sock)
            except BlockingIOError:
                return
            except handoff_wire.WireError as err:
                log.warning("worker pid %d sent a bad control message: %s", self.worker.pid, err)
                continue
            except OSError:
                received = None
            if received is None:
                self.close()
                return
            message, fd = received
            self.pump_records()
            handler = self._handlers.get(type(message))
            if handler is None:
                log.warning("worker pid %d sent an unexpected %s message", self.worker.pid, message.kind)
                if fd >= 0:
                    os.close(fd)
                continue
            handler(message, fd)

    def pump_records(self) -> None:
        """Count every batch of records waiting on the records socket (never blocks)."""
        records = self.records
        while records is not None:
            try:
                received = handoff_wire.receive(records)
            except BlockingIOError:
                return
            except (handoff_wire.WireError, OSError) as err:
                log.warning("worker pid %d: bad records socket (%s); records now come on the control socket",
                            self.worker.pid, err)  # fmt: skip
                self._close_records()
                return
            if received is None:
                self._close_records()
                return
            message, fd = received
            if fd >= 0:
                os.close(fd)
            if isinstance(message, Records):
                self._on_records(message, -1)
            elif isinstance(message, BusyRequests):
                self._on_busy(message, -1)

    def _close_records(self) -> None:
        if self.records is not None:
            self.records.close()
            self.records = None

    # -- messages --------------------------------------------------------------------------------------------
    def _on_hello(self, message: Hello, fd: int) -> None:
        self.supported = message.version == handoff_wire.HANDOFF_VERSION
        if fd >= 0:  # the records socket: no reader on it; pump and pump_records read it
            self._close_records()
            self.records = socket.socket(fileno=fd)
            self.records.setblocking(False)

    def _on_records(self, message: Records, fd: int) -> None:
        if fd >= 0:
            os.close(fd)
        entries = self.entries
        for record in message.rows:
            entry = entries.get(record.conn)
            if entry is not None:
                handoff.apply_record(entry, record)

    def _on_busy(self, message: BusyRequests, fd: int) -> None:
        if fd >= 0:
            os.close(fd)
        for busy in message.rows:
            entry = self.entries.get(busy.conn)
            if entry is not None:
                handoff.list_busy(entry, busy)

    def _on_closed(self, message: Closed, fd: int) -> None:
        if fd >= 0:
            os.close(fd)
        entry = self._forget(message.conn)
        if entry is not None:
            handoff.release(entry, handed_back=False)

    def _on_handback(self, message: Handback, fd: int) -> None:
        entry = self._forget(message.conn)
        if fd < 0:
            if entry is not None:
                handoff.release(entry, handed_back=False)
            return
        if entry is None:
            os.close(fd)  # not ours (a stale id): nothing to resume it for
            return
        handoff.release(entry, handed_back=True)
        sock = socket.socket(fileno=fd)
        if not entry.listener.resume(sock, message.data, entry.site):
            sock.close()
            entry.site.counters.connections_current -= 1

    def _forget(self, conn: int) -> HandedOff | None:
        entry = self.entries.pop(conn, None)
        if entry is not None:
            entry.registry.entries.pop(conn, None)
        if not self.entries:
            self.empty.set()
        return entry

    def close(self) -> None:
        """The worker is gone (or stopped): release every connection it held."""
        if self.sock is None:
            return
        self.pump_records()  # what it served before it went is counted
        self._close_records()
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        for conn in list(self.entries):
            entry = self._forget(conn)
            if entry is not None:
                handoff.release(entry, handed_back=False)
