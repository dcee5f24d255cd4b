"""StaticFileModule: files with ETag/Last-Modified/Range (aiohttp FileResponse semantics) and IIS MIME maps.

Hot path: the pipeline stats the mapped path once (HttpContext.stat, shared with DefaultDocument and
DirectoryListing), and StaticFileResponse reuses that stat instead of stat-ing again in a thread. Small files
(up to SMALL_FILE_BYTES) are opened and read on the event loop - page-cache reads take microseconds, far less
than the executor round trip - and written with the head in one send. Larger files are opened on the event loop
too (a local open is microseconds, the executor hop was 18% of the worker at 1 MiB) and go out with
sendfile(2), or, when the supervisor offers it and no module at the URL transforms bodies, are handed to the
supervisor as an open descriptor (worker/handoff.py) for it to sendfile to the client itself.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_fileresponse import ENCODING_EXTENSIONS, _FileResponseResult
from aiohttp.web_request import BaseRequest

from agent.hosting.embedded.cache_policy import CACHE_HEADER, FileIdentity, encode_identities, response_cacheable
from agent.hosting.embedded.worker import handoff
from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/staticContent"
# Files up to this size are read on the event loop and sent from memory (no thread-pool hop, no sendfile).
SMALL_FILE_BYTES = 64 * 1024


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


class StaticFileResponse(web.FileResponse):
    """aiohttp's FileResponse (same conditional GET, Range, ETag and Last-Modified logic) that starts from a
    stat the pipeline already took and serves small files without the thread pool."""

    def __init__(self, path: str, st: os.stat_result, headers: dict[str, str]) -> None:
        super().__init__(path, headers=headers)
        self._known_stat: os.stat_result | None = st
        self._body_bytes: bytes | None = None
        # Set by the worker when the request may be answered from the supervisor's kernel cache next time:
        # the other files the response depends on (the directory of a default document).
        self.kernel_cache_deps: tuple[FileIdentity, ...] | None = None
        # The supervisor may send the file itself (worker/handoff.py); a body-transforming module clears this.
        self.handoff = False

    def _get_file_path_stat_encoding(self, accept_encoding: str) -> Any:
        # Reuse the pipeline's stat unless a precompressed sibling (.br/.gz) might be chosen instead.
        st = self._known_stat
        if st is not None and not any(enc in accept_encoding for enc in ENCODING_EXTENSIONS.values()):
            self._known_stat = None  # a retry (none today) would stat afresh
            return (self._path if stat.S_ISREG(st.st_mode) else None), st, None
        return super()._get_file_path_stat_encoding(accept_encoding)

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        st = self._known_stat
        if st is None:
            return await super().prepare(request)
        accept_encoding = request.headers.get("Accept-Encoding", "").lower()
        try:  # what FileResponse runs in the executor, inline: no stat (known), open + fstat only if sending
            result, fobj, st, file_encoding = self._make_response(request, accept_encoding)
        except PermissionError:
            self.set_status(403)
            return await web.StreamResponse.prepare(self, request)
        except OSError:
            self.set_status(404)
            return await web.StreamResponse.prepare(self, request)
        if result is _FileResponseResult.NOT_ACCEPTABLE:
            self.set_status(403)
            return await web.StreamResponse.prepare(self, request)
        if result is _FileResponseResult.PRE_CONDITION_FAILED:
            return await self._precondition_failed(request)
        if result is _FileResponseResult.NOT_MODIFIED:
            return await self._not_modified(request, f"{st.st_mtime_ns:x}-{st.st_size:x}", st.st_mtime)
        assert fobj is not None
        with fobj:
            if st.st_size <= SMALL_FILE_BYTES:
                self._body_bytes = fobj.read(SMALL_FILE_BYTES + 1)
            if self._body_bytes is not None and len(self._body_bytes) != st.st_size:
                self._body_bytes = None  # changed between fstat and read: let sendfile send what is there
            self._mark_cacheable(st, file_encoding)
            return await self._prepare_open_file(request, fobj, st, file_encoding)

    def _mark_cacheable(self, st: os.stat_result, file_encoding: str | None) -> None:
        # The identity is the fstat of the file whose bytes go out, so a later change is seen on re-stat.
        # A large file goes to the supervisor as its descriptor (handoff), which the cache may keep instead of bytes.
        deps = self.kernel_cache_deps
        whole = self._body_bytes is not None or (self.handoff and not self.compression)
        if deps is None or not whole or file_encoding or self.status != 200:
            return
        if response_cacheable(self.headers):
            self.headers[CACHE_HEADER] = encode_identities((FileIdentity.of(str(self._path), st), *deps))

    async def _sendfile(self, request: BaseRequest, fobj: IO[Any], offset: int, count: int) -> AbstractStreamWriter:
        data = self._body_bytes
        if data is None and self.handoff and not self.compression:
            handed = await handoff.send(self, request, fobj, offset, count)
            if handed is not None:
                return handed
        if data is None or self.compression:
            return await super()._sendfile(request, fobj, offset, count)
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        # Head and body leave in one write.
        await web.StreamResponse.write_eof(self, data[offset : offset + count] if count != len(data) else data)
        return writer


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
