"""Configured names and directories the embedded host joins or writes to, confined (security review, issue 9c).

A default document is a file name in the requested directory. A name with a separator, `..`, a NUL, a
drive (`C:`) or an absolute form would make the host serve whatever file the agent user can read, such as
its own private key. The API refuses such names (`FileName`) and the worker skips any that reach the
configuration another way (`plain_file_name`). A directory the host writes into (a site's log directory)
must be writable through the file locations, like a physical path must be readable (`validate_write_directory`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import Forbidden, InvalidParameter
from shared.paths import expand_path

if TYPE_CHECKING:  # type only: the worker zygote imports this module and must not load the settings models
    from agent.files.locations import FileLocations

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


def host_directory(raw: str) -> str | None:
    """The absolute path the Linux host writes to for a configured directory, or None for a Windows form.

    Windows forms (a drive, an unexpanded %VAR%, a relative path) are mapped under the agent's state
    directory by the host (agent/hosting/embedded/model.py: log_directory), so they reach nothing else.
    """
    text = expand_path(raw)
    text = text.replace("\\", "/") if os.sep == "/" else text
    if "%" in text or (len(text) > 1 and text[1] == ":") or not text.startswith("/"):
        return None
    return text


def validate_write_directory(locations: FileLocations, raw: Any, name: str = "directory") -> str:
    """Check a directory the host creates and writes into (site logs; also meant for trace and cache dirs).

    Upstream asks its file provider for write access to the expanded path; here the same check runs through
    the file locations after resolving `..` and links (FileLocations.can_write): 400 when not a normalised
    path, 403 outside every location with the write claim. Windows forms stay allowed (see host_directory).
    """
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise InvalidParameter(name)
    text = host_directory(raw)
    if text is None:
        return raw
    if any(part in (".", "..") for part in text.split("/")):
        raise InvalidParameter(name, "The path must be absolute and normalised.")
    if not locations.can_write(text):
        raise Forbidden(name=name, detail=raw)
    return raw
