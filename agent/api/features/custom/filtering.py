"""Request filtering: the `verbs` list, replaced as a whole by PATCH."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.api.mapping import Bool
from agent.iisconfig import ConfigElement
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


# filteringRule sub-lists: JSON member -> (child element, key attribute).
RULE_LISTS = {"headers": ("scanHeaders", "requestHeader"), "file_extensions": ("appliesTo", "fileExtension"),
              "deny_strings": ("denyStrings", "string")}  # fmt: skip


def rule_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`headers`, `file_extensions`, `deny_strings` of a filtering rule."""
    return {name: [str(e.get(attr)) for e in entry.collection(child)] for name, (child, attr) in RULE_LISTS.items()}


def rule_write(_target: Target, body: dict[str, Any], _create: bool) -> Callable[[ConfigElement], None] | None:
    """Validate the sub-lists present in the body; each replaces the rule's whole list (empty strings skipped)."""
    wanted: dict[str, list[str]] = {}
    for name in RULE_LISTS:
        raw = body.get(name)
        if raw is None:
            continue
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise InvalidParameter(name)
        wanted[name] = [item for item in raw if item]
    if not wanted:
        return None

    def write(entry: ConfigElement) -> None:
        for name, values in wanted.items():
            child, attr = RULE_LISTS[name]
            collection = entry.collection(child)
            for old in list(collection):
                collection.remove(old)
            for value in dict.fromkeys(values):
                collection.add({attr: value})

    return write
