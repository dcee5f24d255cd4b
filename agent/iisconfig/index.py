"""Sites, pools and applications indexed by key and name, rebuilt once per configuration generation.

Reads by id are dictionary lookups however many sites there are; the index is rebuilt lazily, once, after
a write or an outside change to applicationHost.config.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from agent.iisconfig import ConfigElement, ConfigStore

SITES = "system.applicationHost/sites"
POOLS = "system.applicationHost/applicationPools"


@dataclass(slots=True)
class ServerIndex:
    """Lookups over one generation of the configuration."""

    generation: int
    sites: list[ConfigElement] = field(default_factory=list)
    sites_by_key: dict[int, ConfigElement] = field(default_factory=dict)
    sites_by_name: dict[str, ConfigElement] = field(default_factory=dict)
    pools: list[ConfigElement] = field(default_factory=list)
    pools_by_name: dict[str, ConfigElement] = field(default_factory=dict)
    _apps_by_pool: dict[str, list[tuple[ConfigElement, ConfigElement]]] | None = None

    @property
    def apps_by_pool(self) -> dict[str, list[tuple[ConfigElement, ConfigElement]]]:
        """(site, application) pairs by lower-cased pool name; built on first use, as few requests need it."""
        if self._apps_by_pool is None:
            grouped: dict[str, list[tuple[ConfigElement, ConfigElement]]] = defaultdict(list)
            for site in self.sites:
                for app in site.collection():
                    grouped[str(app.get("applicationPool")).lower()].append((site, app))
            self._apps_by_pool = grouped
        return self._apps_by_pool

    def site(self, key: int) -> ConfigElement | None:
        """The site with IIS id `key`."""
        return self.sites_by_key.get(key)

    def site_named(self, name: str) -> ConfigElement | None:
        """The site named `name` (case-insensitive)."""
        return self.sites_by_name.get(name.lower())

    def pool(self, name: str) -> ConfigElement | None:
        """The pool named `name` (case-insensitive)."""
        return self.pools_by_name.get(name.lower())


_CACHE: weakref.WeakKeyDictionary[ConfigStore, ServerIndex] = weakref.WeakKeyDictionary()


def site_key(site: ConfigElement) -> int:
    """The IIS id of a site element."""
    raw = site.get_raw("id")  # raw text: this runs for every site on every index build
    return int(raw) if raw and raw.isdigit() else 0


def build_index(store: ConfigStore) -> ServerIndex:
    """Walk the configuration once."""
    index = ServerIndex(generation=store.generation)
    for site in store.section(SITES).collection():
        index.sites.append(site)
        index.sites_by_key.setdefault(site_key(site), site)
        index.sites_by_name.setdefault((site.get_raw("name") or "").lower(), site)
    for pool in store.section(POOLS).collection():
        index.pools.append(pool)
        index.pools_by_name.setdefault((pool.get_raw("name") or "").lower(), pool)
    return index


def server_index(store: ConfigStore) -> ServerIndex:
    """The index for the store's current generation."""
    index = _CACHE.get(store)
    if index is None or index.generation != store.generation:
        index = _CACHE[store] = build_index(store)
    return index
