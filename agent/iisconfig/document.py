"""The in-memory document: the parsed tree plus change tracking and caches shared by all element views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.iisconfig.node import Node

JOURNAL_LIMIT = 4096
"""Changes kept for late readers; a reader further behind drops its whole cache instead."""


class Document:
    """One parsed applicationHost.config; element wrappers point here to report changes and share caches.

    The root is an lxml element in the agent's store and a litexml one in a worker's reader: this code and the
    views on it use only node.Node.
    """

    __slots__ = ("root", "dirty", "cache", "journal", "journal_base")

    def __init__(self, root: Node) -> None:
        self.root = root
        self.dirty = False
        # Derived data (collection indexes, location index, merged views); any change empties it.
        self.cache: dict[Any, Any] = {}
        # What changed, in order, for caches that outlive a write (agent.api.model_cache): each entry is the
        # changed element and its ancestors, leaf first, taken while it is still attached; None = unknown.
        self.journal: list[tuple[Node, ...] | None] = []
        self.journal_base = 0
        """Entries dropped from the front of the journal; a reader behind this must forget everything."""

    def touch(self, element: Node | None = None) -> None:
        """Record a change to `element` (None: somewhere unknown): the next commit saves, derived views reset."""
        self.dirty = True
        self.cache.clear()
        if len(self.journal) >= JOURNAL_LIMIT:
            self.journal_base += len(self.journal)
            self.journal = []
        self.journal.append(None if element is None else (element, *element.iterancestors()))

    @property
    def journal_end(self) -> int:
        """The position after the last recorded change (journal positions count from the document's birth)."""
        return self.journal_base + len(self.journal)


def first_child(element: Node, tag: str) -> Node | None:
    """The first child element named `tag` (C-level filtering in lxml: cheap even under 10,000 siblings)."""
    for child in element.iterchildren(tag):
        return child
    return None


def element_children(element: Node) -> Iterator[Node]:
    """Child elements, skipping comments and processing instructions ("*" selects elements in lxml)."""
    return element.iterchildren("*")
