"""Sections inside the document: server-level and <location> lookup, creation, removal and locking."""

from __future__ import annotations

from functools import partial

from agent.iisconfig.document import Document, element_children, first_child
from agent.iisconfig.element import ConfigElement
from agent.iisconfig.indent import insert_child, remove_child
from agent.iisconfig.merge import merge_elements
from agent.iisconfig.node import Node
from agent.iisconfig.schema import section_schema


def norm_path(path: str | None) -> str:
    """Canonical location path: no surrounding slashes, "." means the server level ""."""
    text = (path or "").replace("\\", "/").strip().strip("/")
    return "" if text == "." else text


def location_index(doc: Document) -> dict[str, list[Node]]:
    """Lower-cased location path -> its <location> tags in document order (cached until a change)."""
    cached: dict[str, list[Node]] | None = doc.cache.get("locations")
    if cached is None:
        cached = {}
        for location in doc.root.iterchildren("location"):
            cached.setdefault(norm_path(location.get("path")).lower(), []).append(location)
        doc.cache["locations"] = cached
    return cached


def find_under(base: Node, parts: list[str]) -> Node | None:
    """Follow section-group names down from `base`."""
    element: Node | None = base
    for part in parts:
        if element is None:
            return None
        element = first_child(element, part)
    return element


def server_sections(doc: Document, parts: list[str]) -> list[Node]:
    """The section at server level: outside any location, then in <location path=""> tags."""
    found = [e for e in (find_under(doc.root, parts),) if e is not None]
    found += [e for loc in location_index(doc).get("", []) if (e := find_under(loc, parts)) is not None]
    return found


def location_sections(doc: Document, parts: list[str], path: str) -> list[Node]:
    """The section elements inside <location> tags for exactly `path`."""
    if not path:
        return server_sections(doc, parts)
    return [e for loc in location_index(doc).get(path.lower(), []) if (e := find_under(loc, parts)) is not None]


def _anchor(doc: Document, parts: list[str], path: str, create: bool) -> Node | None:
    """Find the section for a virtual view, or create it (and its location tag) on the first write."""
    existing = location_sections(doc, parts, path)
    if existing or not create:
        return existing[0] if existing else None
    if path:
        tags = location_index(doc).get(path.lower())
        base = tags[0] if tags else new_location(doc, path)
    else:
        base = doc.root
    for depth, part in enumerate(parts):
        child = first_child(base, part)
        if child is None:
            child = base.makeelement(part)
            insert_child(base, _group_position(base) if depth == 0 and base is doc.root else len(base), child)
        base = child
    doc.touch(base)
    return base


def _group_position(root: Node) -> int:
    """New top-level section groups go before the first <location> tag, as IIS writes them."""
    for index, child in enumerate(root):
        if child.tag == "location":
            return index
    return len(root)


def new_location(doc: Document, path: str, override_mode: str | None = None) -> Node:
    """Append a <location path=...> tag at the end of the document."""
    location = doc.root.makeelement("location", {"path": path})
    if override_mode:
        location.set("overrideMode", override_mode)
    insert_child(doc.root, len(doc.root), location)
    doc.touch(location)
    return location


def section(doc: Document, name: str, location: str | None, *, readonly: bool = False) -> ConfigElement:
    """A view of section `name` at server level or at a location (virtual until first written)."""
    parts = [p for p in name.strip("/").split("/") if p]
    path = norm_path(location)
    anchor = partial(_anchor, doc, parts, path)
    return ConfigElement(doc, None, section_schema(name), tag=parts[-1], anchor=anchor, readonly=readonly)


def effective_section(doc: Document, name: str, path: str) -> ConfigElement:
    """Read-only merged view of a section for a configuration path, cached until the document changes."""
    path = norm_path(path)
    key = ("effective", name, path.lower())
    cached: ConfigElement | None = doc.cache.get(key)
    if cached is not None:
        return cached
    parts = [p for p in name.strip("/").split("/") if p]
    sources = server_sections(doc, parts)
    segments = path.split("/") if path else []
    for depth in range(1, len(segments) + 1):
        sources += location_sections(doc, parts, "/".join(segments[:depth]))
    schema = section_schema(name)
    if len(sources) > 1:
        merged = merge_elements(parts[-1], sources, schema)
        view = ConfigElement(doc, merged, schema, readonly=True)
    else:
        # One level (the common case): read the live element, no copy of 10,000 sites.
        view = ConfigElement(doc, sources[0] if sources else None, schema, tag=parts[-1], readonly=True)
    doc.cache[key] = view
    return view


def remove_location_section(doc: Document, name: str, location: str) -> None:
    """Delete a section's local configuration at a location and drop location tags left empty."""
    parts = [p for p in name.strip("/").split("/") if p]
    path = norm_path(location)
    for element in location_sections(doc, parts, path):
        doc.touch(element)
        remove_and_prune(element)


def remove_and_prune(element: Node) -> None:
    """Remove an element, then empty section groups and an empty <location> above it."""
    parent = element.getparent()
    remove_child(element)
    while parent is not None and parent.getparent() is not None:
        if next(element_children(parent), None) is not None:
            break
        if parent.tag != "location" and parent.attrib:
            break
        grand = parent.getparent()
        remove_child(parent)
        parent = grand
