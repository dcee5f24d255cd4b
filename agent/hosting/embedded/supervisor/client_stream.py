"""The supervisor's side of one client connection as an asyncio Protocol, with the few stream calls it needs.

Why not asyncio's StreamReader/StreamWriter: every request paid for their generality (a StreamReaderProtocol
hop per chunk, a waiter future per readuntil, a drain per write). This class keeps one buffer and wakes the
connection's task only when it waits for something. It also lets `data_received` answer a request on the spot
(`inline`, used for response-cache hits: cache_hit.py) without waking the task at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

# Stop reading from the client while this much is buffered and nobody consumes it (a large upload, a flood of
# pipelined requests); resume below half of it. The same rule as StreamReader's 2 x limit.
HIGH_WATER = 2 * 65536


class ClientStream(asyncio.Protocol):
    """Buffered reads, flow-controlled writes, and the connection's serving task."""

    def __init__(self, serve: Callable[[ClientStream], Coroutine[Any, Any, None]], limit: int,
                 initial: bytes = b"") -> None:  # fmt: skip
        self._serve = serve
        self.limit = limit
        self.buf = bytearray(initial)  # bytes read before this process had the socket (a worker's handback)
        self.eof = False
        self.lost = False
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._closed: asyncio.Future[None] | None = None
        # Called from data_received while the task waits for a request head; returns True when it answered
        # the request at the start of `buf` (and consumed it), False to leave the buffer to the task.
        self.inline: Callable[[], bool] | None = None
        self.parked = False  # the task waits in read_head, at a request boundary
        self.idle_since = self.loop.time()  # the last request boundary, for the head-wait timeout

    # -- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)
        self.task = self.loop.create_task(self._serve(self))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        inline = self.inline
        if inline is not None and self.parked:
            while self.parked and not self._write_paused and self.buf and inline():
                self.idle_since = self.loop.time()
            if not self.buf:
                return  # everything answered: the task sleeps on
        if len(self.buf) > HIGH_WATER and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        # Keep a plain-TCP connection half-open (a response may still go out, as with StreamReaderProtocol);
        # TLS cannot half-close.
        return self.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = self.lost = True
        self._wake()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- reading ---------------------------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        if self.eof:
            raise asyncio.IncompleteReadError(bytes(self.buf), None)
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _take(self, size: int) -> bytes:
        data = bytes(self.buf[:size])
        del self.buf[:size]
        if self._read_paused and len(self.buf) <= HIGH_WATER // 2:
            self._read_paused = False
            self.transport.resume_reading()
        return data

    async def read_head(self, idle: float) -> bytes:
        """The next request head (through CRLF CRLF). TimeoutError when none completes `timeout` seconds after
        the last request boundary (inline answers move that boundary); IncompleteReadError at EOF;
        LimitOverrunError past `limit` bytes."""
        self.parked = True
        self.idle_since = self.loop.time()
        try:
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end >= 0:
                    if end > self.limit:
                        raise asyncio.LimitOverrunError("request head too long", end)
                    return self._take(end + 4)
                if len(self.buf) > self.limit:
                    raise asyncio.LimitOverrunError("request head too long", len(self.buf))
                deadline = self.idle_since + idle
                if self.loop.time() >= deadline:
                    raise TimeoutError()
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._wait()
                except TimeoutError:
                    continue  # re-check: an inline answer may have moved the deadline
        finally:
            self.parked = False

    async def readuntil(self, separator: bytes) -> bytes:
        """Bytes through `separator` (IncompleteReadError at EOF, LimitOverrunError past `limit`)."""
        while (end := self.buf.find(separator)) < 0:
            if len(self.buf) > self.limit:
                raise asyncio.LimitOverrunError("separator not found", len(self.buf))
            await self._wait()
        return self._take(end + len(separator))

    async def readexactly(self, size: int) -> bytes:
        """Exactly `size` bytes (IncompleteReadError at EOF)."""
        while len(self.buf) < size:
            await self._wait()
        return self._take(size)

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes, at least one; b"" at EOF."""
        while not self.buf:
            if self.eof:
                return b""
            await self._wait()
        return self._take(size)

    # -- writing ---------------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's buffer is above its high-water mark (ConnectionResetError when lost)."""
        if self.lost or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        while self._write_paused:
            self._drain = self.loop.create_future()
            try:
                await self._drain
            finally:
                self._drain = None
            if self.lost:
                raise ConnectionResetError("connection lost")

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def write_eof(self) -> None:
        self.transport.write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def close(self) -> None:
        self.transport.close()

    async def wait_closed(self) -> None:
        """Until connection_lost."""
        if not self.lost:
            if self._closed is None:
                self._closed = self.loop.create_future()
            await self._closed
