"""Configured names the host joins to a directory: a plain file name only (security review, issue 9c).

A default document is a file name in the requested directory. A name with a separator, `..`, a NUL, a
drive (`C:`) or an absolute form would make the host serve whatever file the agent user can read, such as
its own private key. The API refuses such names (`FileName`) and the worker skips any that reach the
configuration another way (`plain_file_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidParameter

# Separators of either platform, NUL and the drive/stream colon; "." and ".." are refused on their own.
_NOT_PLAIN = re.compile(r"[/\\\x00:]")


def plain_file_name(name: str) -> bool:
    """Whether `name` names a file inside a directory and nothing else (no path, no parent, no drive)."""
    return bool(name) and name not in (".", "..") and not _NOT_PLAIN.search(name)


@dataclass(frozen=True, slots=True)
class FileName:
    """A mapping kind (agent/api/mapping.py) for a plain file name such as a default document."""

    def to_json(self, value: Any) -> Any:
        """Pass through, None as ""."""
        return "" if value is None else str(value)

    def from_json(self, value: Any, name: str) -> Any:
        """A string that is a plain file name, else 400 Invalid parameter."""
        if not isinstance(value, str) or not plain_file_name(value):
            raise InvalidParameter(name, "Expected a file name without a path: no '/', '\\', ':', NUL or '..'.")
        return value

    def schema(self) -> dict[str, Any]:
        """A string without separators."""
        return {"type": "string", "pattern": r"^[^/\\:]+$"}
