"""Path rules of the files API: valid names, id plaintext, hidden entries and claim checks that raise 403."""

from __future__ import annotations

import os

from agent.files.locations import FileLocations
from shared.errors import Forbidden

INVALID_NAME_CHARS = frozenset('\\/:*?"<>|') | frozenset(chr(c) for c in range(32))
NAME_MAX_BYTES = 255
"""Linux NAME_MAX; a longer name cannot be created, so it is rejected up front as an invalid name."""
STAGING_PREFIX = ".iisfleet-"
"""Upload and copy staging entries start with this; they are dot-files, so listings never show them."""


def valid_name(name: str) -> bool:
    """Upstream's rule: non-empty, no OS-invalid characters, not ending in `.`; plus the OS length limit."""
    return (
        bool(name)
        and not name.endswith(".")
        and not (set(name) & INVALID_NAME_CHARS)
        and len(name.encode("utf-8", "surrogateescape")) <= NAME_MAX_BYTES
    )


def normalize(path: str) -> str:
    """Absolute, `..`-free, without a trailing separator (the root stays `/`)."""
    return os.path.abspath(path)


def id_text(path: str) -> str:
    """The plaintext of a file id: upstream lower-cases the path; normcase does that only where names fold."""
    return os.path.normcase(normalize(path))


def is_hidden(name: str) -> bool:
    """The Linux counterpart of the Hidden attribute: a leading dot."""
    return name.startswith(".")


def require_read(locations: FileLocations, path: str) -> None:
    """403 unless the path is readable."""
    if not locations.can_read(path):
        raise Forbidden(name=path)


def require_write(locations: FileLocations, path: str) -> None:
    """403 unless the path is readable and writable; `Read-Only` when it is only readable."""
    claims = locations.claims(path)
    if not {"read", "write"} <= claims:
        raise Forbidden(name=path, detail="Read-Only" if "read" in claims else None)
