"""RequestFilteringModule: system.webServer/security/requestFiltering, with IIS's 404.x / 413.1 substatus codes."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from agent.hosting.embedded.context import HttpContext

SECTION = "system.webServer/security/requestFiltering"


@dataclass(frozen=True, slots=True)
class FilteringSettings:
    """The parts of requestFiltering this module enforces."""

    max_content_length: int
    max_url: int
    max_query_string: int
    allow_double_escaping: bool
    allow_unlisted_extensions: bool
    extensions: dict[str, bool]
    hidden_segments: frozenset[str]


def load(section: Any) -> FilteringSettings:
    """Read the effective section once per generation and path."""
    limits = section.child("requestLimits")
    extensions = section.child("fileExtensions")
    return FilteringSettings(
        max_content_length=int(limits.get("maxAllowedContentLength")),
        max_url=int(limits.get("maxUrl")),
        max_query_string=int(limits.get("maxQueryString")),
        allow_double_escaping=bool(section.get("allowDoubleEscaping")),
        allow_unlisted_extensions=bool(extensions.get("allowUnlisted")),
        extensions={str(e.get("fileExtension")).lower(): bool(e.get("allowed")) for e in extensions.collection()},
        hidden_segments=frozenset(str(s.get("segment")).lower() for s in section.collection("hiddenSegments")),
    )


class RequestFilteringModule:
    """Rejects requests the way IIS request filtering does, before anything else runs."""

    def begin_request(self, ctx: HttpContext) -> None:
        """Apply the checks in IIS's order; the first failure answers with its substatus."""
        rules = ctx.settings(SECTION, load)
        request = ctx.request
        raw_path = request.raw_path.partition("?")[0]
        once = ctx.url_path
        if not rules.allow_double_escaping and ("+" in once or unquote(once) != once):
            return ctx.error(404, 11)
        extension = posixpath.splitext(once.rstrip("/").rsplit("/", 1)[-1])[1].lower()
        if extension:
            allowed = rules.extensions.get(extension)
            if allowed is False or (allowed is None and not rules.allow_unlisted_extensions):
                return ctx.error(404, 7)
        segments = {s.lower() for s in once.split("/") if s}
        if segments & rules.hidden_segments:
            return ctx.error(404, 8)
        length = request.content_length
        if length is not None and length > rules.max_content_length:
            return ctx.error(413, 1)
        if len(raw_path) > rules.max_url:
            return ctx.error(404, 14)
        if len(request.query_string) > rules.max_query_string:
            return ctx.error(404, 15)
        return None
