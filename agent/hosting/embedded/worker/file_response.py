"""FileResponse: a file with aiohttp FileResponse's conditional GET, Range, ETag and precompressed-sibling rules.

Ported from aiohttp 3.x (web_fileresponse.py) so that answers, and in particular the ETag format
(`"<mtime_ns hex>-<size hex>"`, which caches and tests keep), stay what they were: If-Match / If-Unmodified-Since
fail with 412, If-None-Match / If-Modified-Since give 304, If-Range falls back to the whole file, a bad or
unsatisfiable Range is 416 with `Content-Range: bytes */size`, `.br` / `.gz` siblings are sent when the client
accepts them. Unlike aiohttp nothing runs in a thread: a local stat and open take microseconds, an executor hop
far longer. Bodies up to SMALL_FILE_BYTES leave with the head in one write; larger ones by sendfile(2).
"""

from __future__ import annotations

import enum
import mimetypes
import os
import stat
from typing import IO, Any

from agent.hosting.embedded.worker.request import ETAG_ANY, ETag
from agent.hosting.embedded.worker.response import StreamResponse, Writer, empty_status

# Files up to this size are read on the event loop and sent from memory (no sendfile).
SMALL_FILE_BYTES = 64 * 1024
# Precompressed siblings, checked in this order (aiohttp's ENCODING_EXTENSIONS).
ENCODING_EXTENSIONS = {".br": "br", ".gz": "gzip"}
FALLBACK_CONTENT_TYPE = "application/octet-stream"


class Outcome(enum.Enum):
    """What the conditional headers make of a request for the file."""

    SEND_FILE = enum.auto()
    NOT_ACCEPTABLE = enum.auto()  # not a regular file
    PRE_CONDITION_FAILED = enum.auto()
    NOT_MODIFIED = enum.auto()


def etag_of(st: os.stat_result) -> str:
    """The entity tag of a file version (unquoted), as aiohttp makes it."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


def _etag_match(value: str, etags: tuple[ETag, ...], *, weak: bool) -> bool:
    if len(etags) == 1 and etags[0].value == ETAG_ANY:
        return True
    return any(tag.value == value for tag in etags if weak or not tag.is_weak)


class FileResponse(StreamResponse):
    """Sends the file at `path` (or a precompressed sibling), honouring conditional and Range headers."""

    def __init__(self, path: str | os.PathLike[str], status: int = 200, reason: str | None = None,
                 headers: Any = None) -> None:  # fmt: skip
        super().__init__(status=status, reason=reason, headers=headers)
        self._path = os.fspath(path)  # a str: pathlib's parsing cost more than the rest of the stat

    def _path_stat_encoding(self, accept_encoding: str) -> tuple[str | None, os.stat_result, str | None]:
        path = self._path
        for extension, encoding in ENCODING_EXTENSIONS.items():
            if encoding not in accept_encoding:
                continue
            sibling = path + extension
            try:
                st = os.lstat(sibling)  # no symlinks, regular files only
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                return sibling, st, encoding
        st = os.stat(path)
        return (path if stat.S_ISREG(st.st_mode) else None), st, None

    def _decide(self, request: Any, accept: str) -> tuple[Outcome, IO[bytes] | None, os.stat_result, str | None]:
        """The outcome of the conditional headers; the open file (and its fstat) when it is to be sent."""
        path, st, encoding = self._path_stat_encoding(accept)
        if path is None:
            return Outcome.NOT_ACCEPTABLE, None, st, None
        etag = etag_of(st)
        if (if_match := request.if_match) is not None and not _etag_match(etag, if_match, weak=False):
            return Outcome.PRE_CONDITION_FAILED, None, st, encoding
        unmodified = request.if_unmodified_since
        if unmodified is not None and if_match is None and st.st_mtime > unmodified.timestamp():
            return Outcome.PRE_CONDITION_FAILED, None, st, encoding
        if (if_none := request.if_none_match) is not None and _etag_match(etag, if_none, weak=True):
            return Outcome.NOT_MODIFIED, None, st, encoding
        modified = request.if_modified_since
        if modified is not None and if_none is None and st.st_mtime <= modified.timestamp():
            return Outcome.NOT_MODIFIED, None, st, encoding
        fobj = open(path, "rb")  # noqa: SIM115 - closed by send
        try:
            st = os.fstat(fobj.fileno())  # the version that is open, should it have changed since the stat
        except OSError:
            pass
        return Outcome.SEND_FILE, fobj, st, encoding

    async def send(self, request: Any, writer: Writer) -> None:
        """Answer the request with the file, a 304/412/416, or 403/404 when it cannot be opened."""
        try:
            outcome, fobj, st, encoding = self._decide(request, request.headers.get("Accept-Encoding", "").lower())
        except PermissionError:
            return await self._send_status(request, writer, 403)
        except OSError:
            return await self._send_status(request, writer, 404)
        if outcome is Outcome.NOT_ACCEPTABLE:
            return await self._send_status(request, writer, 403)
        if outcome is Outcome.PRE_CONDITION_FAILED:
            return await self._send_status(request, writer, 412)
        if outcome is Outcome.NOT_MODIFIED:
            self.set_status(304)
            self.etag = etag_of(st)
            self.last_modified = st.st_mtime
            return await StreamResponse.send(self, request, writer)
        assert fobj is not None
        with fobj:
            await self._send_open_file(request, writer, fobj, st, encoding)
        return None

    async def _send_status(self, request: Any, writer: Writer, status: int) -> None:
        self.set_status(status)
        await StreamResponse.send(self, request, writer)

    async def _send_open_file(self, request: Any, writer: Writer, fobj: IO[bytes], st: os.stat_result,
                              encoding: str | None) -> None:  # fmt: skip
        size = st.st_size
        count = size
        start: int | None = None
        status = self.status
        if_range = request.if_range
        if if_range is None or st.st_mtime <= if_range.timestamp():
            try:
                rng = request.http_range
            except ValueError:
                self.headers["Content-Range"] = f"bytes */{size}"
                return await self._send_status(request, writer, 416)
            start, end = rng.start, rng.stop
            if start is not None:
                if start < 0 and end is None:  # the last -start bytes
                    start = max(0, start + size)
                    count = size - start
                else:
                    count = min(end if end is not None else size, size) - start
                if start >= size:
                    self.headers["Content-Range"] = f"bytes */{size}"
                    return await self._send_status(request, writer, 416)
                status = 206
                self.set_status(status)
        if "Content-Type" not in self.headers:
            guessed = mimetypes.guess_type(os.path.basename(self._path))[0]
            self.headers["Content-Type"] = guessed or FALLBACK_CONTENT_TYPE
        if encoding:
            self.headers["Content-Encoding"] = encoding
            self.headers["Vary"] = "Accept-Encoding"
        self.etag = etag_of(st)
        self.last_modified = st.st_mtime
        self.headers["Accept-Ranges"] = "bytes"
        if status == 206:
            assert start is not None
            self.headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{size}"
        if count == 0 or request.method == "HEAD" or empty_status(status):
            writer.write(self.head(request, count))
            return None
        await self._send_body(request, writer, fobj, start or 0, count)
        return None

    async def _send_body(self, request: Any, writer: Writer, fobj: IO[bytes], offset: int, count: int) -> None:
        """The head, then `count` bytes of the file from `offset`: from memory when small, else by sendfile."""
        if count <= SMALL_FILE_BYTES:
            data = os.pread(fobj.fileno(), count, offset)
            if len(data) == count:
                writer.write(self.head(request, count) + data)
                return
        writer.write(self.head(request, count))
        await writer.sendfile(fobj, offset, count)
