"""A feature whose section names a directory the host writes into (the compressed-file cache) checks it.

The host creates that directory and writes files there, so it must be writable through the file locations,
as for site logs (agent/security/confine.py: validate_write_directory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.security.confine import validate_write_directory


def check_directory(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """A write hook that only validates `directory` (the section mapping writes it)."""
    if body.get("directory") is not None:
        validate_write_directory(target.ctx.locations, body["directory"])
    return None
