"""StaticCompressionModule and DynamicCompressionModule: httpCompression + urlCompression, gzip and deflate.

Static: a file of a staticTypes MIME type and at least minFileSizeForComp bytes is compressed once into the
httpCompression directory (named by the file's path, mtime and size, given the file's mtime) and served from
there with FileResponse (worker/file_response.py), so conditional GET works on the compressed representation
(its own ETag, since the size differs). A Range request gets the identity file (noCompressionForRange, on by
default; when off the range applies to the compressed bytes, which is what HTTP says). Dynamic: an in-memory
body of a dynamicTypes type is compressed as it leaves. Every response that could be compressed says `Vary:
Accept-Encoding`, which also keeps it out of the supervisor's kernel cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import zlib
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.hosting.embedded import inetpub
from agent.hosting.embedded.worker.context import HttpContext, carried_headers
from agent.hosting.embedded.worker.file_response import FileResponse
from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse
from agent.hosting.embedded.worker.response import Response, StreamResponse

HTTP_COMPRESSION = "system.webServer/httpCompression"
URL_COMPRESSION = "system.webServer/urlCompression"
CODECS = ("gzip", "deflate")
# (id of the cached httpCompression settings, urlCompression switches) → (those settings, merged).
_MERGED: dict[tuple[int, bool, bool], tuple[CompressionSettings, CompressionSettings]] = {}


@dataclass(frozen=True, slots=True)
class Scheme:
    """One <scheme>: its name and levels (IIS 0-10, zlib 1-9)."""

    name: str
    static: bool
    dynamic: bool
    static_level: int
    dynamic_level: int


@dataclass(frozen=True, slots=True)
class CompressionSettings:
    """Both sections, read once per generation and path."""

    schemes: tuple[Scheme, ...]
    static_types: tuple[tuple[str, bool], ...]
    dynamic_types: tuple[tuple[str, bool], ...]
    min_size: int
    directory: str
    no_range: bool
    do_static: bool
    do_dynamic: bool


def _types(section: Any, name: str) -> tuple[tuple[str, bool], ...]:
    return tuple((str(t.get("mimeType")).lower(), bool(t.get("enabled"))) for t in section.child(name).collection())


def _level(value: Any) -> int:
    return max(1, min(9, int(value) or 1))


def load_http(section: Any) -> CompressionSettings:
    """httpCompression (urlCompression switches are filled in by `settings`)."""
    schemes = tuple(
        Scheme(str(s.get("name")).lower(), bool(s.get("doStaticCompression")), bool(s.get("doDynamicCompression")),
               _level(s.get("staticCompressionLevel")), _level(s.get("dynamicCompressionLevel")))
        for s in section.collection() if str(s.get("name")).lower() in CODECS
    )  # fmt: skip
    return CompressionSettings(
        schemes, _types(section, "staticTypes"), _types(section, "dynamicTypes"),
        int(section.get("minFileSizeForComp")), str(section.get("directory") or ""),
        bool(section.get("noCompressionForRange")), False, False,
    )  # fmt: skip


def load_url(section: Any) -> tuple[bool, bool]:
    """urlCompression doStaticCompression, doDynamicCompression."""
    return bool(section.get("doStaticCompression")), bool(section.get("doDynamicCompression"))


def settings(ctx: HttpContext) -> CompressionSettings:
    """Both sections at the request's path (merged once per generation and path)."""
    base = ctx.settings(HTTP_COMPRESSION, load_http)
    do_static, do_dynamic = ctx.settings(URL_COMPRESSION, load_url)
    key = (id(base), do_static, do_dynamic)
    merged = _MERGED.get(key)
    if merged is None or merged[0] is not base:
        if len(_MERGED) > 4096:
            _MERGED.clear()
        merged = _MERGED[key] = (base, dataclasses.replace(base, do_static=do_static, do_dynamic=do_dynamic))
    return merged[1]


def type_enabled(types: tuple[tuple[str, bool], ...], content_type: str) -> bool:
    """IIS's MIME list: the first entry matching type/subtype (with * wildcards) decides."""
    main, _, sub = content_type.partition(";")[0].strip().lower().partition("/")
    for pattern, enabled in types:
        p_main, _, p_sub = pattern.partition("/")
        if p_main in ("*", main) and p_sub in ("*", sub):
            return enabled
    return False


def accepted(ctx: HttpContext) -> set[str]:
    """Codings the client accepts (q > 0)."""
    found = set()
    for part in ctx.request.headers.get("Accept-Encoding", "").lower().split(","):
        name, _, params = part.partition(";")
        q = params.strip().removeprefix("q=")
        try:
            if params and float(q) <= 0:
                continue
        except ValueError:
            continue
        found.add(name.strip())
    return found


def pick(ctx: HttpContext, conf: CompressionSettings, static: bool) -> Scheme | None:
    """The first configured scheme the client accepts (None: send identity)."""
    codings = accepted(ctx)
    for scheme in conf.schemes:
        if (scheme.static if static else scheme.dynamic) and (scheme.name in codings or "*" in codings):
            return scheme
    return None


def encode(data: bytes, coding: str, level: int) -> bytes:
    """gzip, or HTTP deflate (the zlib format)."""
    import gzip  # here: most workers never compress, and it pulls in struct and _compression

    return gzip.compress(data, level, mtime=0) if coding == "gzip" else zlib.compress(data, level)


def _vary(response: StreamResponse) -> None:
    vary = response.headers.get("Vary", "")
    if "accept-encoding" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"


def _cached_copy(source: str, st: os.stat_result, scheme: Scheme, directory: Path) -> Path:
    """The compressed copy of `source` in the cache directory, made (atomically) when missing or stale."""
    import hashlib  # here: it maps libcrypto, which a worker that never compresses files does not need

    digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    target = directory / f"{digest}-{st.st_mtime_ns:x}-{st.st_size:x}.{scheme.name}"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        data = encode(handle.read(), scheme.name, scheme.static_level)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.utime(partial, ns=(st.st_atime_ns, st.st_mtime_ns))  # Last-Modified stays the source file's
    os.replace(partial, target)
    return target


class StaticCompressionModule:
    """Compresses static files into the compression cache and serves the compressed copy."""

    def idle(self, ctx: HttpContext) -> bool:
        """Static compression is off or has no scheme."""
        conf = settings(ctx)
        return not conf.do_static or not any(s.static for s in conf.schemes)

    def send_response(self, ctx: HttpContext) -> Awaitable[None] | None:
        """Swap an eligible static file response for its compressed copy (a coroutine only when there is one
        to make or find: most answers, small files among them, pass through here at once)."""
        response = ctx.response
        if not isinstance(response, StaticFileResponse) or ctx.request.method not in ("GET", "HEAD"):
            return None
        conf = settings(ctx)
        st = ctx.stat()
        if not conf.do_static or st is None or st.st_size < conf.min_size:
            return None
        if not type_enabled(conf.static_types, response.headers.get("Content-Type", "")):
            return None
        _vary(response)
        scheme = pick(ctx, conf, static=True)
        if scheme is None or (conf.no_range and "Range" in ctx.request.headers):
            return None
        directory = inetpub.resolve(conf.directory, ctx.config.store.path.parent) if conf.directory else None
        if directory is None:
            return None
        return self._swap(ctx, response, st, scheme, directory / f"W3SVC{ctx.site_id}")

    @staticmethod
    async def _swap(ctx: HttpContext, response: StaticFileResponse, st: os.stat_result, scheme: Scheme,
                    directory: Path) -> None:  # fmt: skip
        path = ctx.physical_path
        assert path is not None
        copy = await asyncio.to_thread(_cached_copy, path, st, scheme, directory)
        headers = carried_headers(response, "content-type")
        ctx.response = FileResponse(copy, headers={**headers, "Content-Encoding": scheme.name})


class DynamicCompressionModule:
    """Compresses in-memory bodies of dynamicTypes types."""

    def idle(self, ctx: HttpContext) -> bool:
        """Dynamic compression is off or has no scheme."""
        conf = settings(ctx)
        return not conf.do_dynamic or not any(s.dynamic for s in conf.schemes)

    def send_response(self, ctx: HttpContext) -> None:
        """Compress the body when the type, the client and urlCompression agree."""
        response = ctx.response
        if not isinstance(response, Response) or response.status in (204, 304) or response.status < 200:
            return
        body = response.body
        if not isinstance(body, bytes) or not body or "Content-Encoding" in response.headers:
            return
        conf = settings(ctx)
        if not conf.do_dynamic or not type_enabled(conf.dynamic_types, response.headers.get("Content-Type", "")):
            return
        _vary(response)
        scheme = pick(ctx, conf, static=False)
        if scheme is None:
            return
        response.body = encode(body, scheme.name, scheme.dynamic_level)
        response.headers["Content-Encoding"] = scheme.name
        response.headers.pop("ETag", None)
