"""Section delegation: overrideMode on <location> tags and overrideModeDefault in <configSections>."""

from __future__ import annotations

from agent.iisconfig.document import Document, first_child
from agent.iisconfig.errors import ConfigError
from agent.iisconfig.indent import insert_child
from agent.iisconfig.locations import (
    find_under,
    location_index,
    new_location,
    norm_path,
    remove_and_prune,
)
from agent.iisconfig.node import Node

MODES = ("allow", "deny", "inherit")


def _parts(name: str) -> list[str]:
    """Section path split into group names."""
    return [p for p in name.strip("/").split("/") if p]


def _tag_mode(location: Node) -> str:
    """The explicit mode of a <location> tag: overrideMode, else legacy allowOverride, else inherit."""
    mode = (location.get("overrideMode") or "").strip().lower()
    if mode in ("allow", "deny"):
        return mode
    legacy = (location.get("allowOverride") or "").strip().lower()
    if legacy in ("true", "false"):
        return "allow" if legacy == "true" else "deny"
    return "inherit"


def override_mode_default(doc: Document, name: str) -> str:
    """overrideModeDefault from <configSections> ("allow" when the section is not declared)."""
    element = first_child(doc.root, "configSections")
    parts = _parts(name)
    for part in parts[:-1]:
        if element is None:
            return "allow"
        element = next((g for g in element.iterchildren("sectionGroup") if g.get("name") == part), None)
    if element is None:
        return "allow"
    declared = next((s for s in element.iterchildren("section") if s.get("name") == parts[-1]), None)
    mode = (declared.get("overrideModeDefault") if declared is not None else None) or "Allow"
    return "deny" if mode.strip().lower() == "deny" else "allow"


def override_mode(doc: Document, name: str, location: str) -> str:
    """The mode set explicitly at exactly `location` for this section: "allow", "deny" or "inherit"."""
    parts = _parts(name)
    for tag in location_index(doc).get(norm_path(location).lower(), []):
        if find_under(tag, parts) is not None and _tag_mode(tag) != "inherit":
            return _tag_mode(tag)
    return "inherit"


def effective_override_mode(doc: Document, name: str, location: str) -> str:
    """The mode that applies at `location`: most specific explicit one at the path or above, else the default."""
    segments = norm_path(location).split("/") if norm_path(location) else []
    for depth in range(len(segments), -1, -1):
        mode = override_mode(doc, name, "/".join(segments[:depth]))
        if mode != "inherit":
            return mode
    return override_mode_default(doc, name)


def is_locked(doc: Document, name: str, location: str) -> bool:
    """True when the section cannot be configured at a site/app path because delegation says deny."""
    return bool(norm_path(location)) and effective_override_mode(doc, name, location) == "deny"


def set_override_mode(doc: Document, name: str, location: str, mode: str) -> None:
    """Put the section at `location` into a <location> tag with the given overrideMode (IIS feature delegation)."""
    mode = mode.strip().lower()
    if mode not in MODES:
        raise ConfigError(f"overrideMode must be one of {', '.join(MODES)}")
    parts = _parts(name)
    path = norm_path(location)
    wanted = {"allow": "Allow", "deny": "Deny", "inherit": None}[mode]
    current: Node | None = None
    holder: Node | None = None
    for tag in location_index(doc).get(path.lower(), []):
        found = find_under(tag, parts)
        if found is not None:
            current, holder = found, tag
            break
    if current is None and not path:
        current = find_under(doc.root, parts)
    if holder is not None and _tag_mode(holder) == mode:
        return
    target = next(
        (t for t in location_index(doc).get(path.lower(), []) if (t.get("overrideMode") or None) == wanted), None
    )
    if target is None:
        target = new_location(doc, path or "", wanted)
    base = target
    for part in parts[:-1]:
        child = first_child(base, part)
        if child is None:
            child = base.makeelement(part)
            insert_child(base, len(base), child)
        base = child
    if current is not None:
        remove_and_prune(current)
        current.tail = None
    else:
        current = base.makeelement(parts[-1])
    insert_child(base, len(base), current)
    doc.touch(current)
