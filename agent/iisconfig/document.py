"""The in-memory document: the parsed tree plus change tracking and caches shared by all element views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lxml import etree

from agent.iisconfig.xmlutil import Element, Layout


class Document:
    """One parsed applicationHost.config; element wrappers point here to report changes and share caches."""

    __slots__ = ("tree", "root", "layout", "dirty", "cache")

    def __init__(self, tree: etree._ElementTree, layout: Layout) -> None:
        self.tree = tree
        self.root: Element = tree.getroot()
        self.layout = layout
        self.dirty = False
        # Derived data (collection indexes, location index, merged views); any change empties it.
        self.cache: dict[Any, Any] = {}

    def touch(self) -> None:
        """Record a change: the next commit saves, and every derived view is rebuilt on demand."""
        self.dirty = True
        self.cache.clear()


def first_child(element: Element, tag: str) -> Element | None:
    """The first child element named `tag` (C-level filtering: cheap even under 10,000 siblings)."""
    for child in element.iterchildren(tag):
        return child
    return None


def element_children(element: Element) -> Iterator[Element]:
    """Child elements, skipping comments and processing instructions."""
    return element.iterchildren(tag=etree.Element)
