"""Validation of `physical_path` members of sites, applications and virtual directories."""

from __future__ import annotations

import os
from typing import Any

from agent.api.context import Ctx
from shared.errors import Forbidden, InvalidParameter, NotFound
from shared.paths import expand_path


def validate_physical_path(ctx: Ctx, raw: Any, *, missing_status: int = 404, name: str = "physical_path") -> str:
    """Check a physical path as upstream does; return it as given (variables unexpanded).

    Order: absolute and normalised (400), readable through the file locations after resolving `..`
    and links (403), an existing directory (404, or 400 where upstream says so).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidParameter(name)
    expanded = expand_path(raw)
    segments = expanded.replace("\\", "/").split("/")
    if not os.path.isabs(expanded) or any(part in (".", "..") for part in segments) or "\x00" in expanded:
        raise InvalidParameter(name, "The path must be absolute and normalised.")
    if not ctx.locations.can_read(expanded):
        raise Forbidden(name=name, detail=raw)
    if not os.path.isdir(ctx.locations.resolve(expanded)):
        if missing_status == 400:
            raise InvalidParameter(name, "Directory does not exist.")
        raise NotFound(name=name, detail="Directory does not exist.")
    return raw
