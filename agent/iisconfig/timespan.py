""".NET TimeSpan text <-> timedelta, used by the schema (defaults) and by typed values."""

from __future__ import annotations

import re
from datetime import timedelta

_TIMESPAN = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$")


def parse_timespan(text: str) -> timedelta:
    """Parse .NET TimeSpan text: "hh:mm:ss", "d.hh:mm:ss", optional ".fffffff" (or a plain day count)."""
    match = _TIMESPAN.match(text)
    if match is None:
        if text.strip().isdigit():
            return timedelta(days=int(text))
        raise ValueError(f"not a timeSpan: {text!r}")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    value = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds or 0),
        microseconds=int((fraction or "0").ljust(7, "0")) // 10,
    )
    return -value if sign else value


def format_timespan(value: timedelta) -> str:
    """Write a timedelta the way IIS does: "hh:mm:ss" or "d.hh:mm:ss" (plus 7 fraction digits if any)."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.days:
        text = f"{value.days}.{text}"
    if value.microseconds:
        text += f".{value.microseconds * 10:07d}"
    return sign + text
