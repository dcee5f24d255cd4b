"""StaticFileModule: files with ETag/Last-Modified/Range (worker/file_response.py) and IIS MIME maps.

Hot path: the pipeline stats the mapped path once (HttpContext.stat, shared with DefaultDocument and
DirectoryListing), and StaticFileResponse reuses that stat instead of stat-ing again. Small files (up to
SMALL_FILE_BYTES) are read on the event loop - page-cache reads take microseconds - and written with the head
in one send. Larger files go out with sendfile(2), or, when the supervisor offers it and no module at the URL
transforms bodies, are handed to the supervisor as an open descriptor (worker/handoff.py) for it to sendfile
to the client itself.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import IO, Any

from agent.hosting.embedded.cache_policy import CACHE_HEADER, FileIdentity, encode_identities, response_cacheable
from agent.hosting.embedded.worker import handoff
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.file_response import ENCODING_EXTENSIONS, SMALL_FILE_BYTES, FileResponse
from agent.hosting.embedded.worker.response import Writer

SECTION = "system.webServer/staticContent"
__all__ = ["SMALL_FILE_BYTES", "StaticFileModule", "StaticFileResponse"]


@dataclass(frozen=True, slots=True)
class StaticSettings:
    """mimeMap by lower-case extension and the clientCache headers."""

    mime_types: dict[str, str]
    cache_headers: tuple[tuple[str, str], ...]


def _cache_headers(cache: Any) -> tuple[tuple[str, str], ...]:
    """clientCache as IIS sends it: cacheControlCustom joins the mode's own directive; UseExpires sends Expires."""
    mode = str(cache.get("cacheControlMode")).lower()
    custom = str(cache.get("cacheControlCustom") or "")
    directive = ""
    if mode == "disablecache":
        directive = "no-cache"
    elif mode == "usemaxage":
        age = cache.get("cacheControlMaxAge")
        seconds = int(age.total_seconds()) if hasattr(age, "total_seconds") else int(age or 0)
        directive = f"max-age={seconds}"
    control = ", ".join(d for d in (directive, custom) if d)
    headers = [("Cache-Control", control)] if control else []
    expires = str(cache.get("httpExpires") or "")
    if mode == "useexpires" and expires:
        headers.append(("Expires", expires))
    return tuple(headers)


def load(section: Any) -> StaticSettings:
    """Read the effective section once per generation and path."""
    mime = {str(m.get("fileExtension")).lower(): str(m.get("mimeType")) for m in section.collection()}
    return StaticSettings(mime, _cache_headers(section.child("clientCache")))


class StaticFileResponse(FileResponse):
    """FileResponse (same conditional GET, Range, ETag and Last-Modified logic) that starts from the stat the
    pipeline already took, may be offered to the supervisor's kernel cache, and may hand a large file off."""

    def __init__(self, path: str, st: os.stat_result, headers: dict[str, str]) -> None:
        super().__init__(path, headers=headers)
        self._known_stat: os.stat_result | None = st
        self._body_bytes: bytes | None = None
        # Set by the worker when the request may be answered from the supervisor's kernel cache next time:
        # the other files the response depends on (the directory of a default document).
        self.kernel_cache_deps: tuple[FileIdentity, ...] | None = None
        # The files a cacheable answer was built from, once sent; for the supervisor (relayed) also as a header.
        self.cache_files: tuple[FileIdentity, ...] | None = None
        self.cache_header = True
        # The supervisor may send the file itself (worker/handoff.py); a body-transforming module clears this.
        self.handoff = False

    def _path_stat_encoding(self, accept_encoding: str) -> tuple[str | None, os.stat_result, str | None]:
        # Reuse the pipeline's stat unless a precompressed sibling (.br/.gz) might be chosen instead.
        st = self._known_stat
        if st is not None and not any(enc in accept_encoding for enc in ENCODING_EXTENSIONS.values()):
            self._known_stat = None  # a retry (none today) would stat afresh
            return (self._path if stat.S_ISREG(st.st_mode) else None), st, None
        return super()._path_stat_encoding(accept_encoding)

    async def _send_open_file(self, request: Any, writer: Writer, fobj: IO[bytes], st: os.stat_result,
                              encoding: str | None) -> None:  # fmt: skip
        if st.st_size <= SMALL_FILE_BYTES:
            self._body_bytes = fobj.read(SMALL_FILE_BYTES + 1)
        if self._body_bytes is not None and len(self._body_bytes) != st.st_size:
            self._body_bytes = None  # changed between fstat and read: let sendfile send what is there
        self._mark_cacheable(st, encoding)
        await super()._send_open_file(request, writer, fobj, st, encoding)

    def _mark_cacheable(self, st: os.stat_result, file_encoding: str | None) -> None:
        # The identity is the fstat of the file whose bytes go out, so a later change is seen on re-stat.
        # A large file goes to the supervisor as its descriptor (handoff), which the cache may keep instead of bytes.
        deps = self.kernel_cache_deps
        # A handed-off connection's worker keeps large files as file entries of its own cache (not cache_header).
        whole = self._body_bytes is not None or self.handoff or not self.cache_header
        if deps is None or not whole or file_encoding or self.status != 200:
            return
        if response_cacheable(self.headers):
            self.cache_files = (FileIdentity.of(self._path, st), *deps)
            if self.cache_header:
                self.headers[CACHE_HEADER] = encode_identities(self.cache_files)

    async def _send_body(self, request: Any, writer: Writer, fobj: IO[bytes], offset: int, count: int) -> None:
        data = self._body_bytes
        if data is None:
            if self.handoff and await handoff.send(self, request, writer, fobj, offset, count):
                return
            await super()._send_body(request, writer, fobj, offset, count)
            return
        # Head and body leave in one write.
        writer.write(self.head(request, count) + (data[offset : offset + count] if count != len(data) else data))


class StaticFileModule:
    """Serves the mapped file; 404 when missing, 404.3 without a MIME map, 403.14 for a bare directory."""

    def execute_request_handler(self, ctx: HttpContext) -> None:
        """Answer with the file (small ones from memory, large ones with sendfile)."""
        if ctx.response is not None:
            return
        st = ctx.stat()
        if st is None:
            return ctx.error(404)
        if stat.S_ISDIR(st.st_mode):
            return ctx.error(403, 14)
        path = ctx.physical_path
        assert path is not None
        rules = ctx.settings(SECTION, load)
        extension = posixpath.splitext(path)[1].lower() or "."
        mime = rules.mime_types.get(extension)
        if mime is None:
            return ctx.error(404, 3)
        if ctx.request.method not in ("GET", "HEAD"):
            return ctx.error(405, headers={"Allow": "GET, HEAD, OPTIONS, TRACE"})
        headers = {"Content-Type": mime, **dict(rules.cache_headers)}
        ctx.response = StaticFileResponse(path, st, headers)
        ctx.response.handoff = st.st_size > SMALL_FILE_BYTES and handoff.eligible(ctx)
        return None
