"""Range arithmetic: item paging (`Range: files=a-b`), byte ranges, Content-Range of uploads, range sets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from agent.files.errors import InvalidRange
from shared.errors import InvalidParameter

T = TypeVar("T")
_SPAN = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.IGNORECASE)
_STATUS_QUERY = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)

Span = tuple[int, int]
"""An inclusive (first, last) pair."""


def _span(header: str, unit: str) -> Span:
    prefix, sep, rest = header.partition("=")
    match = _SPAN.match(rest) if sep and prefix.strip().lower() == unit else None
    if match is None:
        raise InvalidRange(detail=f"Expected '{unit}=<first>-<last>'.")
    first, last = int(match[1]), int(match[2])
    if first > last:
        raise InvalidRange(detail="The first position is after the last.")
    return first, last


def page(items: Sequence[T], header: str | None, unit: str = "files") -> tuple[list[T], str | None]:
    """Apply an item Range header; returns the page and upstream's Content-Range value (no unit prefix)."""
    if header is None:
        return list(items), None
    first, last = _span(header, unit)
    if last >= len(items):
        raise InvalidRange(detail=f"There are {len(items)} items.")
    return list(items[first : last + 1]), f"{first}-{last}/{len(items)}"


def byte_range(header: str, size: int) -> Span:
    """A single `bytes=a-b` range within a file of `size` bytes (both numbers required, as upstream)."""
    first, last = _span(header, "bytes")
    if last >= size:
        raise InvalidRange(detail=f"The file has {size} bytes.")
    return first, last


def content_range(header: str) -> tuple[int, int, int]:
    """`bytes a-b/total` of an upload chunk; 400 `Content-Range` when it does not describe a chunk."""
    match = _CONTENT_RANGE.match(header)
    if match is None:
        raise InvalidParameter("Content-Range", "Expected 'bytes <first>-<last>/<total>'.")
    first, last, total = int(match[1]), int(match[2]), int(match[3])
    if first > last or last >= total:
        raise InvalidParameter("Content-Range", "Expected first <= last < total.")
    return first, last, total


def status_query(header: str) -> int | None:
    """The total of a `bytes */total` Content-Range (a request for an upload's missing ranges), else None."""
    match = _STATUS_QUERY.match(header)
    return int(match[1]) if match else None


def merge(spans: Sequence[Span], new: Span) -> list[Span]:
    """Add a span to a sorted, disjoint list, joining overlapping and adjacent spans."""
    out: list[Span] = []
    first, last = new
    for a, b in sorted(spans):
        if b + 1 < first or a > last + 1:
            out.append((a, b))
        else:
            first, last = min(a, first), max(b, last)
    out.append((first, last))
    return sorted(out)


def missing(spans: Sequence[Span], total: int) -> list[Span]:
    """The spans of [0, total) not covered by the sorted, disjoint `spans`."""
    gaps: list[Span] = []
    cursor = 0
    for a, b in sorted(spans):
        if a > cursor:
            gaps.append((cursor, a - 1))
        cursor = max(cursor, b + 1)
    if cursor < total:
        gaps.append((cursor, total - 1))
    return gaps


def format_spans(spans: Sequence[Span]) -> str:
    """`a-b,c-d`."""
    return ",".join(f"{a}-{b}" for a, b in spans)
