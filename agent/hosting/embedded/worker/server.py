"""The worker's HTTP/1.1 server: an asyncio Protocol per supervisor connection, no aiohttp.

One task per connection serves its requests strictly in order (pipelined requests wait in the buffer, so
responses cannot overtake each other): parse a head, call the handler, write the response, skip whatever of
the body the modules did not read, next. Reading pauses while more than HIGH_WATER bytes wait unread (a
large body no module reads yet, a flood of pipelined requests) and resumes when they are taken; writing
waits while the transport's buffer is over its limit. The peer is the supervisor, which sends well-formed
HTTP/1.1 (agent/hosting/embedded/supervisor/exchange.py); anything else still gets a proper 400/431/501 and
a closed connection, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import IO, Any

from multidict import CIMultiDict

from agent.hosting.embedded.worker.body import BodyReader
from agent.hosting.embedded.worker.flow import WriteFlow
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse

log = logging.getLogger("iisfleet.hosting.worker")

Handler = Callable[[Request], Awaitable[StreamResponse]]
MAX_HEAD = 65536  # the supervisor's own limit (16 KiB) plus the internal headers it adds
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class BadHead(Exception):
    """A request head this server will not serve; answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(data: bytes) -> tuple[str, str, tuple[int, int], CIMultiDict[str]]:
    """(method, target, version, headers) of a head without its final CRLF CRLF; BadHead when malformed."""
    text = data.decode("utf-8", "surrogateescape")  # how the supervisor encodes header text
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise BadHead(400, "bad request line")
    method, target, proto = parts
    if not proto.startswith("HTTP/1.") or len(proto) != 8 or not proto[7].isdigit():
        raise BadHead(505 if proto.startswith("HTTP/") else 400, "unsupported HTTP version")
    pairs = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name or "\t" in name:
            raise BadHead(400, "bad header line")
        pairs.append((name, value.strip(" \t")))
    return method, target, (1, int(proto[7])), CIMultiDict(pairs)  # one constructor call, not an add per line


def body_framing(headers: CIMultiDict[str]) -> tuple[int | None, bool]:
    """(Content-Length, chunked) of a request; BadHead when they conflict or are malformed."""
    encoding = headers.get("Transfer-Encoding")
    lengths = headers.getall("Content-Length", ())
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise BadHead(501, "unsupported transfer coding")
        if lengths:
            raise BadHead(400, "Content-Length with Transfer-Encoding")
        return None, True
    if not lengths:
        return None, False
    if len(set(lengths)) != 1 or not lengths[0].isdigit():
        raise BadHead(400, "bad Content-Length")
    return int(lengths[0]), False


def keep_alive(version: tuple[int, int], headers: CIMultiDict[str]) -> bool:
    """Whether the connection stays open after this request."""
    tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    return "close" not in tokens if version >= (1, 1) else "keep-alive" in tokens


class Connection(WriteFlow, asyncio.Protocol):
    """One connection from the supervisor."""

    def __init__(self, handler: Handler, connections: set[Connection]) -> None:
        self.handler = handler
        self.connections = connections
        self.buf = bytearray()
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()
        self.eof = False
        self.paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.busy = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connections.add(self)
        self._task = self.loop.create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True  # keep the write side open: a response may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.connections.discard(self)
        self._wake()
        self.release_drain()

    # body Source and response Writer

    async def more(self) -> bool:
        """Wait for more bytes; False at end of input."""
        if self.eof:
            return False
        if self.paused:
            self._resume()
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        return True

    def consumed(self) -> None:
        """Bytes were taken from buf: resume reading once it is low."""
        if self.paused and len(self.buf) < LOW_WATER:
            self._resume()

    def write(self, data: bytes) -> None:
        """Queue bytes for the socket (dropped once the supervisor has gone)."""
        if not self.transport.is_closing():
            self.transport.write(data)

    async def sendfile(self, fobj: IO[bytes], offset: int, count: int) -> None:
        """A file range by sendfile(2) (asyncio falls back to reads and writes where it cannot)."""
        if self.transport.is_closing():
            raise ConnectionResetError("supervisor connection lost")
        await self.loop.sendfile(self.transport, fobj, offset, count)

    # internals

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume(self) -> None:
        self.paused = False
        with contextlib.suppress(AttributeError, RuntimeError):
            self.transport.resume_reading()

    async def _read_head(self) -> bytes | None:
        """The next request head (without CRLF CRLF); None when the connection ended between requests."""
        start = 0
        while (end := self.buf.find(b"\r\n\r\n", start)) < 0:
            if len(self.buf) > MAX_HEAD:
                raise BadHead(431, "request head too large")
            start = max(0, len(self.buf) - 3)
            if not await self.more():
                if self.buf.strip():
                    raise BadHead(400, "connection ended inside a request head")
                return None
        if end > MAX_HEAD:
            raise BadHead(431, "request head too large")
        while self.buf.startswith(b"\r\n"):  # stray CRLFs between requests (RFC 9112 2.2)
            del self.buf[:2]
            end -= 2
        if end < 0:
            return await self._read_head()
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        self.consumed()
        return head

    async def _serve(self) -> None:
        try:
            while await self._serve_one():
                pass
        except ConnectionError:
            pass
        except Exception:
            log.exception("worker connection failed")
        finally:
            self.transport.close()

    async def _serve_one(self) -> bool:
        """Serve the next request; True to go on with the connection."""
        try:
            head = await self._read_head()
            if head is None:
                return False
            method, target, version, headers = parse_head(head)
            length, chunked = body_framing(headers)
        except BadHead as bad:
            self._refuse(bad.status)
            return False
        body = BodyReader(self, length, chunked)
        request = Request(method, target, version, headers, keep_alive(version, headers), body, self.transport)
        self.busy = True
        try:
            try:
                response = await self.handler(request)
            except Exception:
                log.exception("worker handler failed for %s", target)
                response = Response(status=500)
            await self._send(request, response)
        finally:
            self.busy = False
            request.finished()
        if not request.keep_alive or self.transport.is_closing():
            return False
        return await body.discard()

    async def _send(self, request: Request, response: StreamResponse) -> None:
        try:
            await response.send(request, self)
        except ValueError:  # an invalid header value or reason: nothing was written yet
            log.exception("invalid response for %s", request.raw_path)
            await Response(status=500).send(request, self)
        await self.drain()

    def _refuse(self, status: int) -> None:
        request = Request("GET", "/", (1, 1), CIMultiDict(), False, BodyReader(self))
        response = Response(status=status)
        response.text = f"{status} {response.reason}"
        self.write(response.head(request, len(response.body)) + response.body)


class Server:
    """Serves a listening socket with `handler`; `close` waits for responses in progress."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, sock: socket.socket) -> None:
        """Accept on an already listening unix socket (inherited from the supervisor)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: Connection(self.handler, self.connections), sock=sock)

    async def close(self, grace: float) -> None:
        """Stop accepting, let requests in progress finish (up to `grace` seconds), close every connection."""
        if self._server is not None:
            self._server.close()
        deadline = asyncio.get_running_loop().time() + grace
        # Polled: a shutdown happens once per worker, an idle-event per request would cost every request.
        while any(c.busy for c in self.connections) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            conn.transport.close()
