"""HttpRedirectionModule: system.webServer/httpRedirect (destination, exactDestination, childOnly, status).

As IIS: without exactDestination the part of the URL below the level where the redirect is configured, and
the query string, are appended to the destination; childOnly ("only redirect requests to content in this
directory") leaves subdirectories alone and appends only the file name. $S (suffix), $V (path), $Q (query
with '?') and $P (query without '?') in the destination are expanded and make it exact. Wildcard <add>
entries (wildcard → destination, first match wins) apply when the section has no destination, as in IIS.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.response import Response

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
    wildcards: tuple[tuple[str, str], ...] = ()


def load(section: Any) -> RedirectSettings | None:
    """The redirect effective at a path; None when disabled or with neither a destination nor wildcards."""
    destination = str(section.get("destination") or "")
    wildcards = tuple((str(w.get("wildcard")), str(w.get("destination"))) for w in section.collection())
    if not section.get("enabled") or not (destination or wildcards):
        return None
    status = STATUS.get(str(section.get("httpResponseStatus")).lower(), 302)
    return RedirectSettings(destination, bool(section.get("exactDestination")), bool(section.get("childOnly")),
                            status, wildcards)  # fmt: skip


def _origin(ctx: HttpContext, settings: RedirectSettings) -> str:
    """The URL path of the shallowest level with the same redirect (where it is configured)."""
    segments = [s for s in ctx.url_path.split("/") if s]
    for depth in range(len(segments) + 1):
        url = "/" + "/".join(segments[:depth])
        if ctx.config.settings(SECTION, ctx.site + url.rstrip("/"), load) == settings:
            return url
    return ctx.url_path


def location(settings: RedirectSettings, url_path: str, origin: str, query: str) -> str | None:
    """The Location for a request below `origin`; None when it is not redirected."""
    # Re-encoded: the decoded path must not put CR/LF or spaces into the Location header.
    suffix = quote(url_path[len(origin.rstrip("/")) :], safe=URL_SAFE)
    if settings.child_only and "/" in suffix.strip("/"):
        return None  # "only content in this directory": a subdirectory is left alone
    destination = settings.destination
    if not destination:  # wildcard rules work only without a section destination, as in IIS
        name = suffix.lstrip("/")
        found = [d for w, d in settings.wildcards if fnmatch.fnmatch(name.lower(), w.lstrip("/").lower())]
        if not found:
            return None
        destination = found[0]
    if any(v in destination for v in _VARIABLES):
        return (destination.replace("$S", suffix).replace("$V", quote(url_path, safe=URL_SAFE))
                .replace("$Q", f"?{query}" if query else "").replace("$P", query))  # fmt: skip
    if settings.exact or not settings.destination:
        return destination
    rest = suffix.rsplit("/", 1)[-1] if settings.child_only else suffix.lstrip("/")
    return destination.rstrip("/") + "/" + rest + (f"?{query}" if query else "")


def target(ctx: HttpContext, settings: RedirectSettings) -> str | None:
    """The Location for this request (None: not redirected)."""
    return location(settings, ctx.url_path, _origin(ctx, settings), ctx.request.raw_path.partition("?")[2])


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
        ctx.response = Response(status=settings.status, text=body, content_type="text/html",
                                    headers={"Location": location})  # fmt: skip
        ctx.complete()
