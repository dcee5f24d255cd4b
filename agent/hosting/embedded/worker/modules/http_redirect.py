"""HttpRedirectionModule: system.webServer/httpRedirect (destination, exactDestination, childOnly, status).

As IIS: without exactDestination the part of the URL below the level where the redirect is configured, and
the query string, are appended to the destination; childOnly leaves requests for that level itself alone;
$S (suffix), $V (path), $Q (query with '?') and $P (query without '?') in the destination are expanded and
make it exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/httpRedirect"
STATUS = {"permanent": 301, "found": 302, "temporary": 307, "permredirect": 308}
_VARIABLES = ("$S", "$V", "$Q", "$P")
URL_SAFE = "/:@!$&'()*+,;=-._~%"


@dataclass(frozen=True, slots=True)
class RedirectSettings:
    """An enabled redirect (None stands for 'disabled' in the cache)."""

    destination: str
    exact: bool
    child_only: bool
    status: int


def load(section: Any) -> RedirectSettings | None:
    """The redirect effective at a path; None when disabled or without a destination."""
    destination = str(section.get("destination") or "")
    if not section.get("enabled") or not destination:
        return None
    status = STATUS.get(str(section.get("httpResponseStatus")).lower(), 302)
    return RedirectSettings(destination, bool(section.get("exactDestination")), bool(section.get("childOnly")), status)


def _origin(ctx: HttpContext, settings: RedirectSettings) -> str:
    """The URL path of the shallowest level with the same redirect (where it is configured)."""
    segments = [s for s in ctx.url_path.split("/") if s]
    for depth in range(len(segments) + 1):
        url = "/" + "/".join(segments[:depth])
        if ctx.config.settings(SECTION, ctx.site + url.rstrip("/"), load) == settings:
            return url
    return ctx.url_path


def target(ctx: HttpContext, settings: RedirectSettings) -> str | None:
    """The Location for this request, None when it is not redirected (childOnly at the configured level)."""
    origin = _origin(ctx, settings)
    # Re-encoded: the decoded path must not put CR/LF or spaces into the Location header.
    suffix = quote(ctx.url_path[len(origin.rstrip("/")) :], safe=URL_SAFE)
    if settings.child_only and suffix.strip("/") == "":
        return None
    query = ctx.request.raw_path.partition("?")[2]
    destination = settings.destination
    if any(v in destination for v in _VARIABLES):
        return (destination.replace("$S", suffix).replace("$V", quote(ctx.url_path, safe=URL_SAFE))
                .replace("$Q", f"?{query}" if query else "").replace("$P", query))  # fmt: skip
    if settings.exact:
        return destination
    return (
        destination.rstrip("/")
        + (suffix or "/" if destination.endswith("/") else suffix)
        + (f"?{query}" if query else "")
    )


class HttpRedirectionModule:
    """Answers with the configured redirect before a handler runs."""

    def idle(self, ctx: HttpContext) -> bool:
        """httpRedirect is off at the path."""
        return ctx.settings(SECTION, load) is None

    def map_request_handler(self, ctx: HttpContext) -> None:
        """Redirect when httpRedirect is enabled at the request's path."""
        settings = ctx.settings(SECTION, load)
        if settings is None:
            return
        location = target(ctx, settings)
        if location is None:
            return
        body = "" if ctx.request.method == "HEAD" else (
            f'<head><title>Document Moved</title></head>\n<body><h1>Object Moved</h1>This document may be found '
            f'<a HREF="{location.replace(chr(34), "%22")}">here</a></body>'
        )  # fmt: skip
        ctx.response = web.Response(status=settings.status, text=body, content_type="text/html",
                                    headers={"Location": location})  # fmt: skip
        ctx.complete()
