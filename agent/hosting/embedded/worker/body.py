"""BodyReader: one request's body, read on demand from the connection's buffer (Content-Length or chunked).

The reader pulls from its source (the connection, worker/server.py) only when a module asks, so a body no
module reads is never copied; the server discards what is left once the response is out, to reach the next
request of the connection. Chunked framing errors raise BadBody: the connection cannot be reused after one.
"""

from __future__ import annotations

from typing import Protocol

MAX_CHUNK_LINE = 8192


class BadBody(ValueError):
    """The request body's framing is broken (bad chunk size or chunk end) or the connection ended inside it."""


class Source(Protocol):
    """Where body bytes come from: a buffer and a way to wait for more."""

    buf: bytearray

    async def more(self) -> bool:
        """Wait for more bytes in buf; False at end of input."""

    def consumed(self) -> None:
        """Bytes were taken from buf (the connection may resume reading)."""


class BufferSource:
    """A complete body already in memory (requests made outside a server)."""

    def __init__(self, data: bytes = b"") -> None:
        self.buf = bytearray(data)

    async def more(self) -> bool:
        """Nothing more ever comes."""
        return False

    def consumed(self) -> None:
        """Nothing to resume."""


class BodyReader:
    """aiohttp's request.content subset: readany(), read(), at_eof()."""

    __slots__ = ("_source", "_remaining", "_chunked", "_chunk_left", "_eof", "failed")

    def __init__(self, source: Source, length: int | None = 0, chunked: bool = False) -> None:
        self._source = source
        self._remaining = length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self._eof = not chunked and not length
        self.failed = False

    def at_eof(self) -> bool:
        """The whole body has been read."""
        return self._eof

    async def readany(self) -> bytes:
        """The next piece of the body (b"" at its end)."""
        if self._eof:
            return b""
        try:
            return await (self._read_chunked() if self._chunked else self._read_length())
        except BadBody:
            self.failed = True
            self._eof = True
            raise

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes (the rest of the body when n < 0)."""
        if n < 0:
            parts = []
            while data := await self.readany():
                parts.append(data)
            return b"".join(parts)
        data = await self.readany()
        if len(data) > n:
            raise ValueError("read(n) smaller than a buffered piece is not supported")  # no module needs it
        return data

    async def discard(self) -> bool:
        """Skip the rest of the body; False when its framing is broken (the connection must close)."""
        try:
            while await self.readany():
                pass
        except BadBody:
            return False
        return not self.failed

    async def _fill(self) -> None:
        if not await self._source.more():
            raise BadBody("connection ended inside the request body")

    def _take(self, limit: int) -> bytes:
        buf = self._source.buf
        if limit >= len(buf):
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:limit])
            del buf[:limit]
        self._source.consumed()
        return data

    async def _read_length(self) -> bytes:
        while not self._source.buf:
            await self._fill()
        data = self._take(self._remaining)
        self._remaining -= len(data)
        self._eof = not self._remaining
        return data

    async def _line(self) -> bytes:
        buf = self._source.buf
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_CHUNK_LINE:
                raise BadBody("chunk line too long")
            await self._fill()
        line = bytes(buf[:end])
        del buf[: end + 2]
        self._source.consumed()
        return line

    async def _read_chunked(self) -> bytes:
        while not self._chunk_left:
            line = await self._line()
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise BadBody("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                while await self._line():  # trailers up to the empty line
                    pass
                self._eof = True
                return b""
            self._chunk_left = size
        while not self._source.buf:
            await self._fill()
        data = self._take(self._chunk_left)
        self._chunk_left -= len(data)
        if not self._chunk_left and await self._line() != b"":
            raise BadBody("chunk data not followed by CRLF")
        return data
