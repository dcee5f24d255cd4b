"""Dates as upstream writes them: UTC round-trip ISO text with up to 7 fraction digits and a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def format_date(value: datetime | None) -> str:
    """Round-trip ISO text in UTC with up to 7 fraction digits (trailing zeros dropped); "" for None."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{value.microsecond * 10:07d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def parse_date(text: str) -> datetime:
    """Parse ISO-8601 text; naive values count as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_optional(text: str | None) -> datetime | None:
    """Like parse_date, with "" / None meaning no date."""
    if text is None or not str(text).strip():
        return None
    return parse_date(str(text))
