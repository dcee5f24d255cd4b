"""Typed values: IIS attribute text <-> Python values, with schema validation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from agent.iisconfig.errors import ConfigValueError
from agent.iisconfig.schema_types import AttrSchema
from agent.iisconfig.timespan import format_timespan, parse_timespan

_INT_RANGES = {"uint": (0, 4294967295), "int": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def parse_value(schema: AttrSchema, text: str) -> Any:
    """Convert attribute text from the file to the schema type (ValueError when it does not fit)."""
    kind = schema.type
    if kind == "string":
        return text
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError(f"not a bool: {text!r}")
    if kind in _INT_RANGES:
        return int(text.strip())
    if kind == "timeSpan":
        return parse_timespan(text)
    if kind == "enum":
        return _enum_name(schema, text)
    return format_flags(schema, _flags_mask(schema, text))


def format_value(schema: AttrSchema, value: Any) -> str:
    """Validate a Python value against the schema and return the canonical IIS text."""
    kind = schema.type
    name = schema.name
    if kind == "string":
        if not isinstance(value, str):
            raise ConfigValueError(name, f"{name} must be a string")
        return value
    if kind == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ConfigValueError(name, f"{name} must be true or false")
        return "true" if value else "false"
    if kind in _INT_RANGES:
        return str(_check_int(schema, value))
    if kind == "timeSpan":
        return format_timespan(_check_timespan(schema, value))
    if kind == "enum":
        try:
            return _enum_name(schema, value if isinstance(value, str) else str(_check_int(schema, value)))
        except ValueError as err:
            raise ConfigValueError(name, f"{name} must be one of {_names(schema)}") from err
    try:
        return format_flags(schema, _flags_mask(schema, value))
    except ValueError as err:
        raise ConfigValueError(name, f"{name} must be a combination of {_names(schema)}") from err


def format_flags(schema: AttrSchema, mask: int) -> str:
    """Canonical comma-separated flag names for `mask`, in schema order."""
    items = schema.enum_items()
    names = [flag for flag, bit in items if bit and mask & bit == bit]
    if not names:
        return next((flag for flag, bit in items if bit == 0), "")
    return ",".join(names)


def _flags_mask(schema: AttrSchema, value: Any) -> int:
    """Bit mask from names ("Date, Time"), a number, or an iterable of names."""
    if isinstance(value, bool):
        raise ValueError("bool is not a flags value")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        parts: Iterable[Any] = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, Iterable):
        parts = value
    else:
        raise ValueError(f"not a flags value: {value!r}")
    lookup = {flag.lower(): bit for flag, bit in schema.enum_items()}
    mask = 0
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"not a flag name: {part!r}")
        token = part.strip()
        if token.isdigit():
            mask |= int(token)
        elif token.lower() in lookup:
            mask |= lookup[token.lower()]
        else:
            raise ValueError(f"unknown flag {token!r}")
    return mask


def _enum_name(schema: AttrSchema, text: str) -> str:
    """Canonical enum name for a case-insensitive name or a numeric value."""
    token = text.strip()
    for flag, number in schema.enum_items():
        if flag.lower() == token.lower() or (token.lstrip("-").isdigit() and int(token) == number):
            return flag
    raise ValueError(f"{schema.name}: unknown value {text!r}")


def _names(schema: AttrSchema) -> str:
    """The allowed names, for error messages."""
    return ", ".join(flag for flag, _ in schema.enum_items())


def _check_int(schema: AttrSchema, value: Any) -> int:
    """An int within the schema range (numeric strings accepted)."""
    name = schema.name
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigValueError(name, f"{name} must be an integer")
    lo, hi = _INT_RANGES.get(schema.type, (None, None))
    lo = schema.min if schema.min is not None else lo
    hi = schema.max if schema.max is not None else hi
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigValueError(name, f"{name} must be between {lo} and {hi}", min_value=lo, max_value=hi)
    return value


def _check_timespan(schema: AttrSchema, value: Any) -> timedelta:
    """A timedelta from a timedelta, a number of seconds or IIS text, within the schema range (seconds)."""
    name = schema.name
    if isinstance(value, str):
        try:
            value = parse_timespan(value)
        except ValueError as err:
            raise ConfigValueError(name, f"{name} must be a time span (hh:mm:ss)") from err
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ConfigValueError(name, f"{name} must be a time span")
    seconds = value.total_seconds()
    lo, hi = schema.min, schema.max
    if (lo is not None and seconds < lo) or (hi is not None and seconds > hi):
        raise ConfigValueError(name, f"{name} must be between {lo} and {hi} seconds", min_value=lo, max_value=hi)
    return value
