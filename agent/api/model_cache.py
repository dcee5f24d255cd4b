"""Rendered models of config-backed resources, kept until the configuration they were made from changes.

A model is cached per (resource family, item, answer shape) for one parsed document of one store. The
document's change journal says what each write touched (the element and its ancestors), and a read first
replays the entries it has not seen:

* a change inside one site (its attributes, bindings, applications, virtual directories) drops the models
  of that site and of what lies under it, nothing else;
* a change inside one application pool drops that pool's models;
* a change elsewhere in <sites> or <applicationPools> (siteDefaults, applicationDefaults, ...) drops every
  model of the families that read that section; a change in any other section drops only the models of
  families that read other sections (none of the cached families do);
* an unknown change, a reload after another program edited applicationHost.config, a rollback, or a
  reader that fell behind the journal drops everything.

Members that depend on runtime state or on other items (status, the pool or site reference) are never
cached: the family lists them as `live` and they are computed on every request.
"""

from __future__ import annotations

import weakref
from typing import Any

from agent.iisconfig import ConfigStore
from agent.iisconfig.document import Document
from agent.iisconfig.node import Node

SITES = "sites"
POOLS = "applicationPools"
OTHER = "*"
"""Any section other than sites and applicationPools."""
ENTRY_TAGS = {SITES: "site", POOLS: "add"}
MAX_ENTRIES = 65536
"""Models kept per store; past this the cache starts over (memory stays bounded with 10,000 sites)."""

Key = tuple[object, ...]


class ModelCache:
    """Models of one store's current document, indexed by the entry (site or pool) that owns them."""

    __slots__ = ("__weakref__", "_doc", "_seen", "_models", "_by_owner", "_by_section")

    def __init__(self) -> None:
        self._doc: Document | None = None
        self._seen = 0
        self._models: dict[Key, Any] = {}
        self._by_owner: dict[Node, set[Key]] = {}
        self._by_section: dict[str, set[Key]] = {}

    def sync(self, doc: Document) -> None:
        """Forget what the changes since the last call made stale (everything for another document)."""
        if doc is not self._doc or self._seen < doc.journal_base:
            self.clear()
            self._doc = doc
            self._seen = doc.journal_end
            return
        if self._seen == doc.journal_end:
            return
        for chain in doc.journal[self._seen - doc.journal_base :]:
            self._forget(classify(chain, doc.root))
        self._seen = doc.journal_end

    def clear(self) -> None:
        """Drop every model."""
        self._models.clear()
        self._by_owner.clear()
        self._by_section.clear()

    def get(self, key: Key) -> Any | None:
        """The cached model for `key` (call sync first)."""
        return self._models.get(key)

    def put(self, key: Key, owner: Node | None, sections: tuple[str, ...], model: Any) -> None:
        """Keep `model`, to be dropped when `owner` or any of `sections` changes."""
        if len(self._models) >= MAX_ENTRIES:
            self.clear()
        self._models[key] = model
        if owner is not None:
            self._by_owner.setdefault(owner, set()).add(key)
        for section in sections:
            self._by_section.setdefault(section, set()).add(key)

    def _drop(self, keys: set[Key] | None) -> None:
        for key in keys or ():
            self._models.pop(key, None)

    def _forget(self, where: tuple[str, Node | None] | None) -> None:
        if where is None:
            self.clear()
            return
        section, entry = where
        if entry is not None:
            self._drop(self._by_owner.pop(entry, None))
        else:
            self._drop(self._by_section.pop(section, None))


def classify(chain: tuple[Node, ...] | None, root: Node) -> tuple[str, Node | None] | None:
    """(section, entry) a journal entry touched: entry is the site/pool element, None for the section's rest.

    None when the change is unknown. `chain` is the changed element and its ancestors, leaf first, taken
    when the change was made (so a removed element still says where it was).
    """
    if not chain or chain[-1] is not root:
        return None
    top = chain[::-1]  # root first: configuration, system.applicationHost, sites, site, ...
    if len(top) < 3 or top[1].tag != "system.applicationHost" or top[2].tag not in ENTRY_TAGS:
        return (OTHER, None) if len(top) > 1 else None
    section = str(top[2].tag)
    if len(top) > 3 and top[3].tag == ENTRY_TAGS[section]:
        return section, top[3]
    return section, None


_CACHES: weakref.WeakKeyDictionary[ConfigStore, ModelCache] = weakref.WeakKeyDictionary()


def model_cache(store: ConfigStore) -> ModelCache:
    """The store's cache, brought up to date with its current document."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES[store] = ModelCache()
    cache.sync(store.document)
    return cache
