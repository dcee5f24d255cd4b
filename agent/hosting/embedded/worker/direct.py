"""One client connection the supervisor handed to this worker (handoff_wire.py), served without the relay.

The loop reads a head (the site's connectionTimeout bounds every wait for one: slowloris), routes it as the
supervisor would (the listener's host table, then the longest application path, `urlmap.match_app`) and serves
it through WorkerApp with the headers the supervisor would have forwarded: the client's, minus hop-by-hop and
client-sent X-IISFleet-* ones, plus the internal ones the modules read. The answer leaves with the same head
the relay would write (no internal or hop-by-hop headers). Its `record` goes to the supervisor before the last
byte of the answer (`Outbox` holds that byte back until the turn's batch of records has left), so counters
equal what the client has. A hit in this worker's answer cache (direct_cache.py: the kernel response cache, or
with it off the URI cache, which reads every body from its file) is answered before any routing beyond the
site's and without the pipeline, as HTTP.sys answers before w3wp.

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
import socket
import time
from typing import IO, TYPE_CHECKING, Any

from multidict import CIMultiDict

from agent.hosting.embedded import cache_policy, http1
from agent.hosting.embedded.handoff_wire import Handoff
from agent.hosting.embedded.urlmap import match_app
from agent.hosting.embedded.wire import ABORT_HEADER
from agent.hosting.embedded.worker.body import BodyReader, BufferSource
from agent.hosting.embedded.worker.direct_cache import CachedAnswer
from agent.hosting.embedded.worker.flow import WriteFlow
from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse, date_line

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
        self.writes = 0  # 1 with nothing sent by sendfile: `_held` is the whole answer (direct_cache stores it)
        self.first: bytes | None = None  # the first write (a file answer's head)
        self.file_sent = 0  # bytes sent by sendfile
        self._held = b""

    def write(self, data: bytes) -> None:
        """Queue bytes: the previous write goes out, this one waits (it may be the last)."""
        if self._held:
            self.conn.write(self._held)
        elif self.first is None:
            self.first = data
        self._held = data
        self.sent += len(data)
        self.writes += 1

    def whole(self) -> bytes | None:
        """The whole answer, when it was one write still held."""
        return self._held if self.writes == 1 and len(self._held) == self.sent else None

    async def drain(self) -> None:
        """Wait while the socket's send buffer is over its limit."""
        await self.conn.drain()

    async def sendfile(self, fobj: IO[bytes], offset: int, count: int) -> None:
        """All but the file range's last byte by sendfile(2); that byte is held like a write."""
        self.start_file()
        if count > 1:
            await self.conn.send_file(fobj, offset, count - 1)
        self.end_file(fobj.fileno(), offset, count)

    def start_file(self) -> None:
        """Before a file's bytes: the held write (the head) goes first, corked."""
        if self._held:
            self.conn.write_before_file(self._held)
            self._held = b""
        if self.transport.is_closing():
            raise ConnectionResetError("client connection lost")
        self.writes += 2  # never a whole() answer

    def end_file(self, source: int, offset: int, count: int) -> None:
        """All but the range's last byte of file descriptor `source` has gone: hold that byte."""
        last = os.pread(source, 1, offset + count - 1)
        if len(last) != 1:
            raise ConnectionResetError("the file shrank while it was sent")
        self._held = last
        self.sent += count
        self.file_sent += count

    def release(self) -> None:
        """Send what was held back."""
        if self._held:
            self.conn.write(self._held)
            self._held = b""
        self.conn.uncork()


class DirectConnection(WriteFlow, asyncio.BufferedProtocol):
    """A handed-off client connection: its buffer, flow control, and the serving loop."""

    def __init__(self, control: Control, app: WorkerApp, message: Handoff, sock: socket.socket) -> None:
        self.control = control
        self.app = app
        self.message = message
        self.sock = sock  # the transport's socket: sendfile and a corked head write go to it directly
        self.corked = False
        self.buf = bytearray(message.data)
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()
        self.eof = False
        self.paused = False
        self.closing = False  # the supervisor asked for a close (site stop)
        self.ended = False
        self._chunk = bytearray(READ_CHUNK)
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0  # when the wait for the next head ends (connectionTimeout)
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None  # the rest of a file hit the socket did not take at once
        self._stamp = config_stamp(message.config)
        client_ip, client_port = message.client
        local_ip, local_port = message.local
        self._internal = (
            ("X-IISFleet-Site", message.site), ("X-IISFleet-Site-Id", str(message.site_id)),
            ("X-IISFleet-Client", f"{client_ip}:{client_port}"), ("X-IISFleet-Local", f"{local_ip}:{local_port}"),
            ("X-IISFleet-Https", "0"), ("X-IISFleet-Config", message.config),
        )  # fmt: skip
        self.record = control.record_encoder(message)
        self.unreleased = False  # an answer is held until the turn's records leave (Control.flush)
        # The request being served (method, target, host, monotonic start), and whether Control reported it busy.
        self.serving: tuple[str, str, str, float] | None = None
        self.reported = False
        self.cache = control.cache
        # A hit is a kernel-cache hit (counted) only while whole answers are kept; else it is the URI cache's.
        self.hit_counted = self.cache is not None and self.cache.keep_bodies
        self._cache_site = (message.site_id, local_ip, local_port)

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
        if self.cache is not None and self._waiter is not None:
            while self._inline_hit():  # a hit costs less than the task switch it would take to serve it there
                if not self.buf:
                    return
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

    def write_before_file(self, data: bytes) -> None:
        """A head that a file's bytes follow: the socket is corked (TCP_CORK) until the answer's held last byte
        goes (`uncork`), so the head leaves in the body's first segment and that byte in its last, not each in
        a segment (and a client wake-up) of its own."""
        if self.transport.get_write_buffer_size() or self.transport.is_closing():
            self.write(data)
            return
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            self.corked = True
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.transport.abort()
            return
        if sent < len(data):
            self.transport.write(data[sent:])  # the rest waits in the transport: send_file then uses asyncio's

    def uncork(self) -> None:
        """Let the segments corked by write_before_file go."""
        if self.corked:
            self.corked = False
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            except OSError:
                pass  # the connection is gone

    def send_file_now(self, source: int, offset: int, count: int) -> int:
        """sendfile(2) from file descriptor `source` what the socket takes now, without waiting: the bytes sent
        (none while asyncio still holds earlier writes, which must leave first)."""
        if self.transport.get_write_buffer_size():
            return 0
        if self.transport.is_closing():
            raise ConnectionResetError("client connection lost")
        sock, done = self.sock.fileno(), 0
        while done < count:
            try:
                sent = os.sendfile(sock, source, offset + done, count - done)
            except (BlockingIOError, InterruptedError):
                break
            if not sent:
                raise ConnectionResetError("the file shrank while it was sent")
            done += sent
        return done

    async def send_file(self, fobj: IO[bytes], offset: int, count: int) -> None:
        """sendfile(2) straight from the file to the client socket (`send_file_now`), waiting only while the
        socket is full (asyncio's loop.sendfile re-arms a writer callback after every chunk)."""
        transport = self.transport
        source = fobj.fileno()
        waiting = -1  # a duplicate of the socket to wait on: asyncio keeps the transport's own to itself
        try:
            while count:
                if transport.get_write_buffer_size():  # what was written first leaves first: asyncio's path waits
                    await self.loop.sendfile(transport, fobj, offset, count)
                    return
                sent = self.send_file_now(source, offset, count)
                offset += sent
                count -= sent
                if count:
                    if waiting < 0:
                        waiting = os.dup(self.sock.fileno())
                    await self._writable(waiting)
        finally:
            if waiting >= 0:
                os.close(waiting)

    async def _writable(self, fd: int) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self.loop.add_writer(fd, wake)
        try:
            async with asyncio.timeout(self.message.timeout):
                await ready
        finally:
            self.loop.remove_writer(fd)

    def released(self, data: bytes) -> None:
        """Send an answer the turn's records were holding back."""
        self.unreleased = False
        self.write(data)

    def release_outbox(self, outbox: Outbox) -> None:
        """Send what an answer's Outbox held back."""
        self.unreleased = False
        outbox.release()

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
        self.control.flush()
        if ending is Ending.HANDBACK and self.transport.get_write_buffer_size():
            ending = await self._flush_then_handback()
        self.end(ending)

    def end(self, ending: Ending) -> None:
        """Tell the supervisor how the connection left this worker (once)."""
        if self.ended:
            return
        self.ended = True
        if self._sending is not None:
            self._sending.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.control.flush()  # this connection's held answers and records leave before it does
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
        self._deadline = self.loop.time() + self.message.timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._on_timer)
        while True:
            if self._sending is not None:  # a file hit answered in buffer_updated is still being sent
                await self._file_sent()
                self._deadline = self.loop.time() + self.message.timeout
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
            if self.loop.time() >= self._deadline:
                return Ending.CLOSED  # an idle keep-alive or a slow head: HTTP.sys just closes
            self._resume()
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _on_timer(self) -> None:
        """The head-wait deadline may have passed: wake a waiting loop to see, or look again later. One lazy
        timer per connection: answering a request moves `_deadline` without touching the timer heap."""
        self._timer = None
        if self.ended:
            return
        now = self.loop.time()
        if self._waiter is not None and now >= self._deadline:
            self.wake()
            return
        self._timer = self.loop.call_at(max(self._deadline, now + 0.001), self._on_timer)

    def _site_head(self, raw: bytes) -> http1.RequestHead | None:
        """The parsed head when it is for this connection's site under an unchanged configuration; None to hand
        back (the supervisor answers or routes it)."""
        try:
            head = http1.parse_head_cached(raw)
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
        return head

    def _in_pool(self, head: http1.RequestHead) -> bool:
        """Whether the request's application is in this connection's pool (else it goes back, to be routed)."""
        message = self.message
        site = self.app.config.server().sites.get(message.site.lower())
        app = match_app(site.apps, head.path) if site is not None else None
        return app is not None and app.pool.lower() == message.pool.lower()

    def _config_changed(self) -> bool:
        stamp = self.control.config_stamp()
        return stamp is None or stamp != self._stamp

    async def _serve_one(self) -> Ending:
        raw = await self._read_head()
        if isinstance(raw, Ending):
            return raw
        head = self._site_head(raw)
        if head is None:
            return Ending.HANDBACK
        if self.cache is not None:
            entry = self._lookup(head)
            if entry is not None and (
                self._answer_at_once(head, raw, entry) or await self._send_file_hit(head, raw, entry)
            ):
                await self.drain()
                return Ending.NEXT
        if not self._in_pool(head):
            return Ending.HANDBACK
        if self.unreleased:  # a pipelined request: the previous answer leaves before this one writes anything
            self.control.flush()
        started = time.monotonic()
        self._serving(head, started)
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
                response, ctx = await self.app.run(request, relayed=False, cached=self.cache is not None)
            except Exception:
                log.exception("worker handler failed for %s", head.target)
                response, ctx = Response(status=500), None
            if ctx is not None:
                substatus, win32, user, logged = ctx.substatus, ctx.win32, ctx.user, ctx.log_enabled
            if ABORT_HEADER in response.headers:  # AbortRequest: the relay drops the client without an answer
                self.serving = None
                self.record(head, raw, 400, substatus, win32, 0, started, user, logged, False, _nothing)
                self.transport.abort()
                return Ending.CLOSED
            strip_for_client(response)
            await self._send(request, response, outbox)
            if self.cache is not None and ctx is not None:
                self._store(head, response, outbox, ctx.substatus, ctx.win32, ctx.log_enabled)
            self.unreleased = True
            self.serving = None
            self.record(head, raw, response.status, substatus, win32, outbox.sent, started, user, logged, False,
                        lambda: self.release_outbox(outbox))  # fmt: skip
            if outbox.writes > 1:  # a large answer's last byte waits for nothing else: the client is blocked on it
                self.control.flush()
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

    # the kernel response cache of this worker (direct_cache.py), under the rules of the supervisor's

    def _cache_key(self, head: http1.RequestHead) -> tuple[int, str, int, str, str]:
        return (*self._cache_site, head.host.lower(), head.target)

    def _inline_hit(self) -> bool:
        """Answer the complete head at the start of the buffer from the cache while the loop waits for a head
        (True: answered and consumed). Anything else is left for the loop: misses, a drain, a full socket."""
        if self.closing or self.control.draining or self.eof or self._sending is not None:
            return False
        if self._drain is not None and not self._drain.done():
            return False
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.buf.startswith(b"\r\n"):
            return False
        raw = bytes(self.buf[: end + 4])
        head = self._site_head(raw)
        entry = self._lookup(head) if head is not None else None
        if head is None or entry is None:
            return False
        if not self._answer_at_once(head, raw, entry) and not self._start_file_hit(head, raw, entry):
            return False
        self._deadline = self.loop.time() + self.message.timeout  # the keep-alive wait starts again
        return True

    def _serving(self, head: http1.RequestHead, started: float) -> None:
        """Note the request now being served (Control's sweep reports it if it runs long)."""
        self.serving = (head.method, head.target, head.host, started)
        self.reported = False

    def _lookup(self, head: http1.RequestHead) -> CachedAnswer | None:
        """The live cache entry for a request the cache may answer."""
        assert self.cache is not None
        if not head.keep_alive or not cache_policy.request_cacheable(head.method, [k for k, _ in head.headers]):
            return None
        accept = head.header("accept-encoding") or ""
        return self.cache.lookup(self._cache_key(head), self.message.config, accept.lower() if accept else "")

    def _answer_at_once(self, head: http1.RequestHead, raw: bytes, entry: CachedAnswer) -> bool:
        """Answer a hit on the spot in one write (consumed, recorded, its bytes held until the record has left):
        a whole answer, or a small file entry with its file read now. False (nothing consumed) for a large file
        entry, or one whose path no longer opens to the stored file."""
        started = time.monotonic()
        assert self.cache is not None
        body = entry.body if entry.dev < 0 else self.cache.body_of(entry)
        if body is None:
            return False
        del self.buf[: len(raw)]
        self._resume()
        data = entry.answer(date_line(), None if head.method == "HEAD" else body)
        self.unreleased = True  # held in order behind any earlier answer: releases run in the turn's order
        self.record(head, raw, 200, entry.substatus, entry.win32, len(data), started, "", entry.logged,
                    self.hit_counted, lambda: self.released(data))  # fmt: skip
        return True

    async def _send_file_hit(self, head: http1.RequestHead, raw: bytes, entry: CachedAnswer) -> bool:
        """Answer a hit on a file entry (`_start_file_hit`) and wait until it is sent."""
        if not self._start_file_hit(head, raw, entry):
            return False
        await self._file_sent()
        return True

    def _start_file_hit(self, head: http1.RequestHead, raw: bytes, entry: CachedAnswer) -> bool:
        """Answer a hit on a file entry: its head, then the file by sendfile(2), as far as the socket takes it
        now; a task (`_sending`) sends the rest, and the loop reads no other head before it is done. False
        (nothing consumed) when the path no longer opens to the stored file; the pipeline then answers. The
        record leaves with the turn's batch (Control.flush), which releases the held last byte."""
        fd = entry.open()
        if fd < 0:
            return False
        if self.unreleased:  # a pipelined hit: the answers held for this turn's records leave before this head
            self.control.flush()
        started = time.monotonic()
        self._serving(head, started)
        del self.buf[: len(raw)]
        self._resume()
        outbox = Outbox(self)
        outbox.write(entry.answer(date_line(), None))
        size = 0 if head.method == "HEAD" else entry.files[0].size
        rest = False  # the descriptor went to the task that sends the rest
        try:
            sent = 0
            if size:
                outbox.start_file()
                sent = self.send_file_now(fd, 0, size - 1)
            if sent < size - 1:
                self._sending = self.loop.create_task(self._send_file_rest(head, raw, entry, fd, outbox, sent))
                rest = True
                return True
            if size:
                outbox.end_file(fd, 0, size)
        except OSError:
            self.transport.abort()  # the loop sees the end (connection_lost), as when its own send fails
            return True
        finally:
            if not rest:
                os.close(fd)
        self._file_hit_sent(head, raw, entry, outbox, started)
        return True

    async def _send_file_rest(self, head: http1.RequestHead, raw: bytes, entry: CachedAnswer, fd: int,
                              outbox: Outbox, sent: int) -> None:  # fmt: skip
        assert self.serving is not None
        started, size = self.serving[3], entry.files[0].size
        try:
            with open(fd, "rb", buffering=0, closefd=False) as body:  # noqa: ASYNC230 - wraps an open descriptor
                await self.send_file(body, sent, size - 1 - sent)
            outbox.end_file(fd, 0, size)
        except (OSError, TimeoutError):
            self.transport.abort()  # the loop sees the end (connection_lost), as when its own send fails
            return
        finally:
            os.close(fd)
        self._file_hit_sent(head, raw, entry, outbox, started)

    def _file_hit_sent(self, head: http1.RequestHead, raw: bytes, entry: CachedAnswer, outbox: Outbox,
                       started: float) -> None:  # fmt: skip
        self.unreleased = True
        self.serving = None
        self.record(head, raw, 200, entry.substatus, entry.win32, outbox.sent, started, "", entry.logged,
                    self.hit_counted, lambda: self.release_outbox(outbox))  # fmt: skip

    async def _file_sent(self) -> None:
        """Wait for a file hit's task to finish sending (`_start_file_hit`)."""
        sending = self._sending
        if sending is not None:
            try:
                await sending
            finally:
                self._sending = None

    def _store(self, head: http1.RequestHead, response: StreamResponse, outbox: Outbox, substatus: int, win32: int,
               logged: bool) -> None:  # fmt: skip
        """Keep a cacheable answer (the pipeline marked its files: StaticFileResponse.cache_files)."""
        assert self.cache is not None
        if head.method != "GET" or response.status != 200 or not head.keep_alive:
            return
        files = response.cache_files if isinstance(response, StaticFileResponse) else None
        if not files:
            return
        data = outbox.whole()
        if data is not None:
            self.cache.store(self._cache_key(head), self.message.config, data, files, substatus, win32, logged)
        elif outbox.file_sent == files[0].size and outbox.first is not None:  # the head, then the whole file
            self.cache.store(self._cache_key(head), self.message.config, outbox.first, files, substatus, win32,
                             logged, head_only=True)  # fmt: skip


def _nothing() -> None:
    """The release of an answer that sends nothing."""
