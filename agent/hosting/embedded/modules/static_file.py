"""StaticFileModule: files by sendfile with ETag/Last-Modified/Range (aiohttp FileResponse) and IIS MIME maps."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.hosting.embedded.context import HttpContext

SECTION = "system.webServer/staticContent"


@dataclass(frozen=True, slots=True)
class StaticSettings:
    """mimeMap by lower-case extension and the clientCache header."""

    mime_types: dict[str, str]
    cache_control: str


def _cache_control(cache: Any) -> str:
    mode = str(cache.get("cacheControlMode")).lower()
    if mode == "disablecache":
        return "no-cache"
    if mode == "usemaxage":
        age = cache.get("cacheControlMaxAge")
        seconds = int(age.total_seconds()) if hasattr(age, "total_seconds") else int(age or 0)
        return f"max-age={seconds}"
    return "" if mode == "nocontrol" else str(cache.get("cacheControlCustom") or "")


def load(section: Any) -> StaticSettings:
    """Read the effective section once per generation and path."""
    mime = {str(m.get("fileExtension")).lower(): str(m.get("mimeType")) for m in section.collection()}
    return StaticSettings(mime, _cache_control(section.child("clientCache")))


class StaticFileModule:
    """Serves the mapped file; 404 when missing, 404.3 without a MIME map, 403.14 for a bare directory."""

    def execute_request_handler(self, ctx: HttpContext) -> None:
        """Answer with the file (zero-copy: FileResponse uses loop.sendfile)."""
        if ctx.response is not None:
            return
        path = ctx.physical_path
        if path is None or not os.path.exists(path):
            return ctx.error(404)
        if os.path.isdir(path):
            return ctx.error(403, 14)
        rules = ctx.settings(SECTION, load)
        extension = posixpath.splitext(path)[1].lower() or "."
        mime = rules.mime_types.get(extension)
        if mime is None:
            return ctx.error(404, 3)
        if ctx.request.method not in ("GET", "HEAD"):
            return ctx.error(405, headers={"Allow": "GET, HEAD, OPTIONS, TRACE"})
        headers = {"Content-Type": mime}
        if rules.cache_control:
            headers["Cache-Control"] = rules.cache_control
        ctx.response = web.FileResponse(path, headers=headers)
        return None
