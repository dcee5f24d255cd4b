"""Agent paths normalised before any check: dot segments, empty segments and encoded separators are refused.

A path that only becomes dangerous after one more decode (`%2e%2e`, `%2f`, `%5c`, `%25..`) is refused as
well, so the path the rules look at is the path the agent acts on.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from controller.services.errors import InvalidRequest

_ENCODED = re.compile(r"%(2e|2f|5c|25|00)", re.IGNORECASE)
_SEGMENT_OK = re.compile(r"^[^\x00-\x1f\x7f\\]*$")


def normalise_agent_path(raw: str, *, name: str = "path") -> str:
    """The decoded agent path of a raw (still percent-encoded, query-less) path that starts with '/'."""
    if not raw.startswith("/"):
        raise InvalidRequest(f"the path {raw!r} must start with '/'", name=name)
    if "//" in raw:
        raise InvalidRequest(f"the path {raw!r} has an empty segment ('//')", name=name)
    if _ENCODED.search(raw):
        raise InvalidRequest(f"the path {raw!r} has an encoded dot, slash, backslash or percent sign", name=name)
    decoded = unquote(raw)
    for segment in decoded.split("/")[1:]:
        if segment in (".", ".."):
            raise InvalidRequest(f"the path {raw!r} has a '.' or '..' segment", name=name)
        if not _SEGMENT_OK.match(segment):
            raise InvalidRequest(f"the path {raw!r} has a backslash or control character", name=name)
    return decoded
