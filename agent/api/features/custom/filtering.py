"""Request filtering: the `verbs` list, replaced as a whole by PATCH."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.api.mapping import Bool
from shared.errors import InvalidParameter


def verbs_read(target: Target) -> dict[str, Any]:
    """`verbs`: [{name, allowed}] in effect at the path."""
    verbs = target.effective().child("verbs").collection()
    return {"verbs": [{"name": str(v.get("verb")), "allowed": bool(v.get("allowed"))} for v in verbs]}


def verbs_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """Validate `verbs` and return the write that replaces the level's list (clear + adds)."""
    raw = body.get("verbs")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter("verbs")
    wanted: list[tuple[str, bool]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise InvalidParameter("verb.name")
        if "allowed" not in item:
            raise InvalidParameter("verb.allowed")
        wanted.append((item["name"], Bool().from_json(item["allowed"], "verb.allowed")))

    def write() -> None:
        verbs = target.local().child("verbs").collection()
        verbs.clear()
        for name, allowed in wanted:
            if verbs.find(verb=name) is None:
                verbs.add(verb=name, allowed=allowed)

    return write
