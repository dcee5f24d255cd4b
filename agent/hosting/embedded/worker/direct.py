"""One client connection the supervisor handed to this worker (handoff_wire.py), served without the relay.

The loop reads a head (the site's connectionTimeout bounds every wait for one: slowloris), routes it as the
supervisor would (the listener's host table, then the longest application path, `urlmap.match_app`) and serves
it through WorkerApp with the headers the supervisor would have forwarded: the client's, minus hop-by-hop and
client-sent X-IISFleet-* ones, plus the internal ones the modules read. The answer leaves with the same head
the relay would write (no internal or hop-by-hop headers). Its `record` goes to the supervisor before the last
byte of the answer (`Outbox` holds that byte back), so counters equal what the client has.

Handback is always correct, so anything this loop does not serve goes back with every byte read and not
consumed: a head the supervisor would reject, HTTP/1.0, absolute-form targets, a request body, another site or
pool, a configuration file that changed since the supervisor's version, and every connection at a request
boundary once the worker drains. The connection ends with exactly one `handback` or `closed` (`Ending`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from typing import IO, TYPE_CHECKING, Any

from multidict import CIMultiDict

from agent.hosting.embedded import http1
from agent.hosting.embedded.handoff_wire import Handoff
from agent.hosting.embedded.urlmap import match_app
from agent.hosting.embedded.wire import ABORT_HEADER
from agent.hosting.embedded.worker.body import BodyReader, BufferSource
from agent.hosting.embedded.worker.flow import WriteFlow
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse

if TYPE_CHECKING:
    from agent.hosting.embedded.worker.app import WorkerApp
    from agent.hosting.embedded.worker.control import Control

log = logging.getLogger("iisfleet.hosting.worker")

READ_CHUNK = 64 * 1024
# Reading pauses at this many unread bytes, so a handback (buffer + header) always fits in one control packet.
READ_LIMIT = 64 * 1024


class Ending(enum.Enum):
    """How one request's turn ends the loop (or does not)."""

    NEXT = enum.auto()  # serve the next request
    HANDBACK = enum.auto()  # the supervisor takes the connection, with every unconsumed byte
    CLOSED = enum.auto()  # the connection is closed


def config_stamp(version: str) -> tuple[int, int] | None:
    """(mtime_ns, size) of the configuration file in the supervisor's version string ("mtime-size-gen")."""
    parts = version.split("-")
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def strip_for_client(response: StreamResponse) -> None:
    """Drop what the relay drops from a worker's answer: hop-by-hop and internal headers."""
    headers = response.headers
    for name in [k for k in headers if not http1.end_to_end(k)]:
        headers.popall(name, None)


class Outbox:
    """The response Writer of a handed-off connection: counts the bytes and holds the last write back until
    the request's record has left (handoff_wire rule), then `release`s it."""

    def __init__(self, conn: DirectConnection) -> None:
        self.conn = conn
        self.transport: Any = conn.transport
        self.sent = 0
        self._held = b""

    def write(self, data: bytes) -> None:
        """Queue bytes: the previous write goes out, this one waits (it may be the last)."""
        if self._held:
            self.conn.write(self._held)
        self._held = data
        self.sent += len(data)

    async def drain(self) -> None:
        """Wait while the socket's send buffer is over its limit."""
        await self.conn.drain()

    async def sendfile(self, fobj: IO[bytes], offset: int, count: int) -> None:
        """All but the file range's last byte by sendfile(2); that byte is held like a write."""
        if self._held:
            self.conn.write(self._held)
            self._held = b""
        if self.transport.is_closing():
            raise ConnectionResetError("client connection lost")
        if count > 1:
            await asyncio.get_running_loop().sendfile(self.transport, fobj, offset, count - 1)
        last = os.pread(fobj.fileno(), 1, offset + count - 1)
        if len(last) != 1:
            raise ConnectionResetError("the file shrank while it was sent")
        self._held = last
        self.sent += count

    def release(self) -> None:
        """Send what was held back."""
        if self._held:
            self.conn.write(self._held)
            self._held = b""


class DirectConnection(WriteFlow, asyncio.BufferedProtocol):
    """A handed-off client connection: its buffer, flow control, and the serving loop."""

    def __init__(self, control: Control, app: WorkerApp, message: Handoff) -> None:
        self.control = control
        self.app = app
        self.message = message
        self.buf = bytearray(message.data)
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()
        self.eof = False
        self.paused = False
        self.closing = False  # the supervisor asked for a close (site stop)
        self.ended = False
        self._chunk = bytearray(READ_CHUNK)
        self._waiter: asyncio.Future[None] | None = None
        self._stamp = config_stamp(message.config)
        client_ip, client_port = message.client
        local_ip, local_port = message.local
        self._internal = (
            ("X-IISFleet-Site", message.site), ("X-IISFleet-Site-Id", str(message.site_id)),
            ("X-IISFleet-Client", f"{client_ip}:{client_port}"), ("X-IISFleet-Local", f"{local_ip}:{local_port}"),
            ("X-IISFleet-Https", "0"), ("X-IISFleet-Config", message.config),
        )  # fmt: skip
        self.record = control.record_encoder(message)

    # asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if len(self.buf) >= READ_LIMIT:
            self._pause()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._chunk

    def buffer_updated(self, nbytes: int) -> None:
        self.buf += memoryview(self._chunk)[:nbytes]
        if len(self.buf) >= READ_LIMIT:
            self._pause()
        self.wake()

    def eof_received(self) -> bool:
        self.eof = True
        self.wake()
        return True  # keep the write side: an answer may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.wake()
        self.release_drain()

    # the connection as the response sees it

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (dropped once the connection is gone)."""
        if not self.transport.is_closing():
            self.transport.write(data)

    def wake(self) -> None:
        """Let the loop look again (more bytes, EOF, a drain or a close)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close_now(self) -> None:
        """The site stopped: drop the connection now (an answer in progress is cut, as on the relay)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
        self.end(Ending.CLOSED)
        self.wake()

    # the loop

    async def serve(self) -> None:
        """Serve requests until the connection closes or goes back to the supervisor."""
        ending = Ending.CLOSED
        try:
            ending = await self._serve_one()
            while ending is Ending.NEXT:
                ending = await self._serve_one()
        except (ConnectionError, TimeoutError):
            ending = Ending.CLOSED
        except Exception:
            log.exception("handed-off connection %d failed", self.message.conn)
            ending = Ending.CLOSED
        if ending is Ending.HANDBACK and self.transport.get_write_buffer_size():
            ending = await self._flush_then_handback()
        self.end(ending)

    def end(self, ending: Ending) -> None:
        """Tell the supervisor how the connection left this worker (once)."""
        if self.ended:
            return
        self.ended = True
        self.control.forget(self)
        if ending is Ending.HANDBACK and not self.transport.is_closing():
            sock = self.transport.get_extra_info("socket")
            if self.control.hand_back(self.message.conn, bytes(self.buf), sock.fileno()):
                self.transport.abort()  # our descriptor only: the supervisor's copy keeps the connection
                return
        self.transport.close()
        self.control.closed(self.message.conn)

    async def _flush_then_handback(self) -> Ending:
        while self.transport.get_write_buffer_size():  # what we wrote must reach the client first
            if self.transport.is_closing():
                return Ending.CLOSED
            await asyncio.sleep(0.001)
        return Ending.HANDBACK

    def _pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and len(self.buf) < READ_LIMIT:
            self.paused = False
            self.transport.resume_reading()

    async def _read_head(self) -> bytes | Ending:
        """The next head (through CRLF CRLF), or how the connection ends while waiting for it."""
        deadline = self.loop.time() + self.message.timeout
        while True:
            if self.closing:
                return Ending.CLOSED
            if self.control.draining:
                return Ending.HANDBACK  # at a request boundary: the next worker takes it from here
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                return bytes(self.buf[: end + 4])
            if len(self.buf) > http1.MAX_HEAD_BYTES or self.buf.startswith(b"\r\n"):
                return Ending.HANDBACK  # the supervisor answers it as it would on the relay
            if self.eof:
                return Ending.HANDBACK if self.buf else Ending.CLOSED
            self._resume()
            self._waiter = self.loop.create_future()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._waiter
            except TimeoutError:
                return Ending.CLOSED  # an idle keep-alive or a slow head: HTTP.sys just closes
            finally:
                self._waiter = None

    def _route(self, raw: bytes) -> http1.RequestHead | None:
        """The parsed head when this worker serves it as the supervisor would route it; None to hand back."""
        try:
            head = http1.parse_head(raw)
        except http1.BadRequest:
            return None
        if len(raw) > http1.MAX_HEAD_BYTES or head.version != (1, 1) or not head.target.startswith("/"):
            return None
        if head.chunked or head.content_length:
            return None
        message = self.message
        hosts = message.hosts
        host = http1.host_name(head.host)
        if (hosts.get(host) if host in hosts else hosts.get("")) != message.site:
            return None
        if self._stamp is None or self._config_changed():
            return None
        site = self.app.config.server().sites.get(message.site.lower())
        app = match_app(site.apps, head.path) if site is not None else None
        if app is None or app.pool.lower() != message.pool.lower():
            return None
        return head

    def _config_changed(self) -> bool:
        try:
            st = os.stat(self.app.store.path)
        except OSError:
            return True
        return (st.st_mtime_ns, st.st_size) != self._stamp

    async def _serve_one(self) -> Ending:
        raw = await self._read_head()
        if isinstance(raw, Ending):
            return raw
        head = self._route(raw)
        if head is None:
            return Ending.HANDBACK
        started = time.monotonic()
        del self.buf[: len(raw)]
        self._resume()
        headers: CIMultiDict[str] = CIMultiDict(http1.forwarded(head.headers))
        headers.extend(self._internal)
        request = Request(head.method, head.target, (1, 1), headers, head.keep_alive, BodyReader(BufferSource()),
                          self.transport)  # fmt: skip
        outbox = Outbox(self)
        substatus = win32 = 0
        user = ""
        logged = True
        try:
            try:
                response, ctx = await self.app.run(request, relayed=False)
            except Exception:
                log.exception("worker handler failed for %s", head.target)
                response, ctx = Response(status=500), None
            if ctx is not None:
                substatus, win32, user, logged = ctx.substatus, ctx.win32, ctx.user, ctx.log_enabled
            if ABORT_HEADER in response.headers:  # AbortRequest: the relay drops the client without an answer
                self.record(head, raw, 400, substatus, win32, 0, started, user, logged)
                self.transport.abort()
                return Ending.CLOSED
            strip_for_client(response)
            await self._send(request, response, outbox)
            self.record(head, raw, response.status, substatus, win32, outbox.sent, started, user, logged)
            outbox.release()
        finally:
            request.finished()
        await self.drain()
        if not head.keep_alive or self.transport.is_closing():
            return Ending.CLOSED
        return Ending.NEXT

    async def _send(self, request: Request, response: StreamResponse, outbox: Outbox) -> None:
        try:
            await response.send(request, outbox)
        except ValueError:  # an invalid header value or reason: nothing was written yet
            log.exception("invalid response for %s", request.raw_path)
            await Response(status=500).send(request, outbox)
