"""Effective (merged) configuration: server -> location "Site" -> "Site/app" ..., with IIS collection rules."""

from __future__ import annotations

import copy

from agent.iisconfig.collection import collection_schema, entry_key
from agent.iisconfig.document import element_children, first_child
from agent.iisconfig.node import Node
from agent.iisconfig.schema_types import ElementSchema


def merge_elements(tag: str, sources: list[Node], schema: ElementSchema | None) -> Node:
    """A detached element combining `sources` (least specific first): later attributes win, collections merge."""
    merged = sources[0].makeelement(tag)
    for source in sources:
        _merge_into(merged, source, schema)
    return merged


def _merge_into(target: Node, source: Node, schema: ElementSchema | None) -> None:
    """Merge one level into the accumulated element."""
    for name, value in source.attrib.items():
        target.set(str(name), str(value))
    coll = collection_schema(schema)
    add, remove, clear = coll.add_tag, coll.remove, coll.clear
    # Entries a level adds go before the inherited ones when the collection does not "merge append"
    # (defaultDocument files, handlers): track where this level's next entry goes.
    position = 0
    for child in element_children(source):
        tag = child.tag
        if tag == clear:
            for entry in list(target.iterchildren(add)):
                target.remove(entry)
        elif tag == remove:
            key = entry_key(child, coll)
            for entry in target.iterchildren(add):
                if entry_key(entry, coll) == key:
                    target.remove(entry)
                    break
        elif tag == add:
            entry = copy.deepcopy(child)
            entry.tail = None
            key = entry_key(child, coll)
            existing = next((e for e in target.iterchildren(add) if entry_key(e, coll) == key), None)
            if existing is not None:
                target.replace(existing, entry)
            elif coll.merge_append:
                target.append(entry)
            else:
                target.insert(position, entry)
                position += 1
        else:
            sub = first_child(target, str(tag))
            if sub is None:
                sub = target.makeelement(str(tag))
                target.append(sub)
            _merge_into(sub, child, schema.child(str(tag)) if schema is not None else None)
