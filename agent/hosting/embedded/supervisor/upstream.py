"""The supervisor's HTTP/1.1 client to one worker: pooled unix-socket connections, no aiohttp client.

A request leaves as one send (head, plus the body when it is small and already known); the response head
is parsed here and the body is handed to the caller as raw socket reads, so the caller can also relay a
Content-Length body with splice(2) (worker socket -> pipe -> client socket) without copying it through Python.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_RESPONSE_HEAD = 65536
RECV = 65536
# A pooled connection idle longer than this is closed rather than reused (the worker keeps them ~1 h).
IDLE_SECONDS = 60.0
MAX_IDLE = 512
CONNECT_SECONDS = 30.0
F_SETPIPE_SZ = 1031
PIPE_SIZE = 256 * 1024
# Room for the descriptors a worker may pass with a response (file_handoff.py passes one).
FD_SPACE = socket.CMSG_SPACE(4 * array.array("i").itemsize)


class UpstreamError(Exception):
    """The worker connection failed: refused, reset, or closed before the response was complete."""

    def __init__(self, message: str, *, before_response: bool = False) -> None:
        super().__init__(message)
        self.before_response = before_response


@dataclass(slots=True)
class ResponseHead:
    """A worker's status line and headers."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    content_length: int | None
    chunked: bool
    keep_alive: bool

    def header(self, name: str, default: str = "") -> str:
        """The first value of a header (case-insensitive)."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return default


def parse_response_head(data: bytes) -> ResponseHead:
    """Parse a status line and header block (without the final CRLF CRLF)."""
    lines = data.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise UpstreamError(f"bad status line from worker: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = version == "HTTP/1.1"
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        if not colon:
            raise UpstreamError("bad header line from worker")
        value = value.strip()
        headers.append((key, value))
        lower = key.lower()
        if lower == "content-length":
            if not value.isdigit():
                raise UpstreamError("bad Content-Length from worker")
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lower == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if "close" in tokens:
                keep_alive = False
            elif "keep-alive" in tokens:
                keep_alive = True
    if chunked:
        length = None
    return ResponseHead(int(code), reason, headers, length, chunked, keep_alive)


class UpstreamConnection:
    """One unix-socket connection to the worker, with its read buffer (and a pipe for splice, lazily)."""

    def __init__(self, sock: socket.socket, reused: bool = False) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = bytearray()
        self.reused = reused
        self.idle_since = 0.0
        self.pipe: tuple[int, int] | None = None
        self.pipe_size = 0
        self.fds: list[int] = []  # descriptors received by SCM_RIGHTS and not yet taken
        self.loop = asyncio.get_running_loop()

    async def send(self, data: bytes) -> None:
        """Send everything (UpstreamError when the worker is gone)."""
        try:
            await self.loop.sock_sendall(self.sock, data)
        except OSError as err:
            raise UpstreamError(f"send to worker failed: {err}", before_response=True) from err

    async def _recv(self, before_response: bool = False) -> None:
        # recvmsg, not recv: a plain recv would read past a passed descriptor and the kernel would close it.
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(RECV, FD_SPACE)
                break
            except (BlockingIOError, InterruptedError):
                await self._readable()
            except OSError as err:
                raise UpstreamError(f"worker connection failed: {err}", before_response=before_response) from err
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                self.fds.extend(fds)
        if not data:
            raise UpstreamError("worker closed the connection", before_response=before_response)
        self.buf += data

    async def _readable(self) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self.loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            self.loop.remove_reader(self.fd)

    def take_fd(self) -> int | None:
        """The oldest descriptor the worker passed (the caller closes it); None when there is none."""
        return self.fds.pop(0) if self.fds else None

    def close_fds(self) -> None:
        """Close descriptors received and not taken."""
        fds, self.fds = self.fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def read_head(self) -> ResponseHead:
        """The next response head; 1xx interim responses are skipped."""
        while True:
            start = 0
            while (end := self.buf.find(b"\r\n\r\n", start)) < 0:
                if len(self.buf) > MAX_RESPONSE_HEAD:
                    raise UpstreamError("response head from worker too large")
                start = max(0, len(self.buf) - 3)
                await self._recv(before_response=not self.buf)
            head = parse_response_head(bytes(self.buf[:end]))
            del self.buf[: end + 4]
            if head.status >= 200 or head.status == 101:
                return head

    async def read_some(self, limit: int = RECV) -> bytes:
        """Up to `limit` body bytes (at least one)."""
        if not self.buf:
            await self._recv()
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data

    async def _readline(self) -> bytes:
        start = 0
        while (end := self.buf.find(b"\r\n", start)) < 0:
            if len(self.buf) > MAX_RESPONSE_HEAD:
                raise UpstreamError("chunk header from worker too large")
            start = max(0, len(self.buf) - 1)
            await self._recv()
        line = bytes(self.buf[: end + 2])
        del self.buf[: end + 2]
        return line

    async def body(self, head: ResponseHead) -> AsyncIterator[bytes]:
        """The decoded body: Content-Length bytes, de-chunked data, or everything up to EOF."""
        if head.content_length is not None:
            remaining = head.content_length
            while remaining:
                data = await self.read_some(min(RECV, remaining))
                remaining -= len(data)
                yield data
        elif head.chunked:
            while True:
                line = await self._readline()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as err:
                    raise UpstreamError("bad chunk size from worker") from err
                if size == 0:
                    while await self._readline() != b"\r\n":  # trailers
                        pass
                    return
                while size:
                    data = await self.read_some(min(RECV, size))
                    size -= len(data)
                    yield data
                if await self._readline() != b"\r\n":
                    raise UpstreamError("bad chunk framing from worker")
        else:
            while True:
                try:
                    data = await self.read_some()
                except UpstreamError:
                    return  # EOF ends a close-delimited body
                yield data

    def splice_pipe(self) -> tuple[int, int]:
        """A non-blocking pipe for splice, made on first use and kept with the connection."""
        if self.pipe is None:
            self.pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.pipe[1], F_SETPIPE_SZ, PIPE_SIZE)
            self.pipe_size = fcntl.fcntl(self.pipe[1], 1032)  # F_GETPIPE_SZ
        return self.pipe

    def close(self) -> None:
        """Close the socket, the pipe and any passed descriptor not taken."""
        self.sock.close()
        self.close_fds()
        if self.pipe is not None:
            for fd in self.pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.pipe = None


class Upstream:
    """The pool of connections from the supervisor to one worker's unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle: list[UpstreamConnection] = []
        self.closed = False

    async def connect(self, *, fresh: bool = False) -> UpstreamConnection:
        """A pooled idle connection (most recently used first), or a new one."""
        if self.closed:
            raise UpstreamError("worker is gone", before_response=True)
        now = time.monotonic()
        while self.idle and not fresh:
            conn = self.idle.pop()
            if now - conn.idle_since < IDLE_SECONDS:
                conn.reused = True
                return conn
            conn.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        # A non-blocking AF_UNIX connect never is "in progress": it connects, or fails with EAGAIN while the
        # worker's listen backlog is full (a busy or still-booting worker). loop.sock_connect would take that
        # EAGAIN for EINPROGRESS and hand back an unconnected socket, so retry here with a short backoff.
        delay, deadline = 0.001, time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                sock.connect(self.path)
                break
            except (BlockingIOError, InterruptedError) as err:
                if self.closed or time.monotonic() > deadline:
                    sock.close()
                    raise UpstreamError(f"cannot connect to worker: {err}", before_response=True) from err
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            except OSError as err:
                sock.close()
                raise UpstreamError(f"cannot connect to worker: {err}", before_response=True) from err
        return UpstreamConnection(sock)

    def release(self, conn: UpstreamConnection, reusable: bool) -> None:
        """Back to the pool when the response was read completely and the worker keeps the connection."""
        if reusable and not self.closed and not conn.buf and not conn.fds and len(self.idle) < MAX_IDLE:
            conn.idle_since = time.monotonic()
            self.idle.append(conn)
        else:
            conn.close()

    async def close(self) -> None:
        """Close idle connections; busy ones close when their request ends."""
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
