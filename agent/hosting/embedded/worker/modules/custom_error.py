"""CustomErrorModule: system.webServer/httpErrors custom pages per status and substatus.

errorMode Custom always, DetailedLocalOnly for remote clients only, Detailed never replaces the detailed page
(the worker's error_html). existingResponse PassThrough leaves every body alone; Auto and Replace replace the
error pages this host generates (no handler here sets IIS's fTrySkipCustomErrors, so Auto acts as Replace).
An entry with subStatusCode -1 matches every substatus; an exact substatus entry wins. responseMode File
sends the file (relative paths are under the application's root) with the original status; ExecuteURL serves
the static file at a URL of the same site (a child request for a static page) with the original status;
Redirect answers 302 to the path. No matching entry and a defaultPath uses defaultResponseMode; no match and
no default keeps the generated page.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import os
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded import inetpub
from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from agent.hosting.embedded.worker.context import HttpContext, carried_headers
from agent.hosting.embedded.worker.response import Response

SECTION = "system.webServer/httpErrors"
MAX_PAGE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """Where one custom error page comes from."""

    path: str
    mode: str


@dataclass(frozen=True, slots=True)
class ErrorSettings:
    """The effective httpErrors at a path."""

    mode: str
    existing: str
    pages: dict[tuple[int, int], ErrorPage]
    default: ErrorPage | None


def load(section: Any) -> ErrorSettings:
    """Read the effective section once per generation and path."""
    pages = {}
    for entry in section.collection():
        page = ErrorPage(str(entry.get("path") or ""), str(entry.get("responseMode")))
        if page.path:
            pages[(int(entry.get("statusCode")), int(entry.get("subStatusCode")))] = page
    default_path = str(section.get("defaultPath") or "")
    default = ErrorPage(default_path, str(section.get("defaultResponseMode"))) if default_path else None
    return ErrorSettings(str(section.get("errorMode")), str(section.get("existingResponse")), pages, default)


def _local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _file(ctx: HttpContext, path: str) -> str | None:
    """The physical file of a File-mode page (relative to the application's root; inetpub paths mapped)."""
    resolved = inetpub.resolve(path, ctx.config.store.path.parent)
    if resolved is not None:
        return str(resolved)
    if ctx.app is None or "%" in path or ":" in path:
        return None
    root = map_path(ctx.app, ctx.app.path)
    return os.path.join(root, path.replace("\\", "/").lstrip("/")) if root else None


def _url_file(ctx: HttpContext, url: str) -> str | None:
    """The physical file behind a site URL (ExecuteURL of a static page)."""
    normal = normalize_url_path(url.partition("?")[0])
    server = ctx.config.server().sites.get(ctx.site.lower())
    if normal is None or server is None:
        return None
    app = match_app(server.apps, normal)
    return map_path(app, normal) if app is not None else None


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PAGE_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_PAGE_BYTES else None


class CustomErrorModule:
    """Replaces generated error pages with the configured ones."""

    def idle(self, ctx: HttpContext) -> bool:
        """No page could ever replace an error here."""
        conf = ctx.settings(SECTION, load)
        return conf.existing == "PassThrough" or conf.mode == "Detailed" or (not conf.pages and conf.default is None)

    def send_response(self, ctx: HttpContext) -> None:
        """Swap the body of an error response (status >= 400) when httpErrors says so."""
        response = ctx.response
        if response is None or response.status < 400 or not isinstance(response, Response):
            return
        conf = ctx.settings(SECTION, load)
        if conf.existing == "PassThrough" or conf.mode == "Detailed":
            return
        if conf.mode == "DetailedLocalOnly" and _local(ctx.client_ip()):
            return
        status = response.status
        page = conf.pages.get((status, ctx.substatus)) or conf.pages.get((status, -1)) or conf.default
        if page is None:
            return
        headers = carried_headers(response)
        if page.mode == "Redirect":
            ctx.response = Response(status=302, headers={**headers, "Location": page.path})
            return
        path = _url_file(ctx, page.path) if page.mode == "ExecuteURL" else _file(ctx, page.path)
        body = _read(path)
        if body is None:
            return  # a missing page keeps the generated one (IIS logs the failure and sends its own page)
        kind = mimetypes.guess_type(path or "")[0] or "text/html"
        ctx.response = Response(status=status, body=b"" if ctx.request.method == "HEAD" else body,
                                    content_type=kind, headers=headers)  # fmt: skip
