"""Prometheus text exposition (format 0.0.4) written directly, family by family.

prometheus-client's collectors cost several microseconds per sample and force `_total` onto every
counter's name; windows_exporter has counters without it (`windows_iis_total_application_pool_recycles`).
Writing the text here keeps those names typed as counters and renders 1,000 pools in a fraction of the
time (bench/metrics_render.py). Label values are escaped once per object, not once per sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

Kind = Literal["counter", "gauge"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    """A label value as it goes between double quotes."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def label(name: str, value: str) -> str:
    """One `name="value"` pair (value escaped)."""
    return f'{name}="{escape(value)}"'


def number(value: float) -> str:
    """A sample value: integers without a fraction, floats as repr, +Inf/-Inf/NaN spelled as Prometheus does."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


class Family:
    """One metric family: HELP, TYPE and its samples, each with pre-rendered labels."""

    __slots__ = ("help", "kind", "lines", "name")

    def __init__(self, name: str, kind: Kind, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.lines: list[str] = []

    def add(self, labels: str, value: float) -> None:
        """A sample; `labels` is the inside of the braces (from `label()`, comma-joined), "" for none."""
        braces = f"{{{labels}}}" if labels else ""
        self.lines.append(f"{self.name}{braces} {number(value)}\n")


def render(families: Iterable[Family]) -> bytes:
    """The exposition text of every family that has samples."""
    out: list[str] = []
    for family in families:
        if family.lines:
            out.append(f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.kind}\n")
            out.extend(family.lines)
    return "".join(out).encode()
