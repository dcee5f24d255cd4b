"""applicationHost.config as the source of truth: schema with IIS defaults, sections, locations, atomic store.

This package knows nothing about HTTP (no aiohttp): the API layer and the host backends build on it.
Its names load on first use, so that a worker importing agent.iisconfig.reader (or .urlmap) does not pull in
ConfigStore and, with it, lxml.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.iisconfig.element import ConfigCollection, ConfigElement
    from agent.iisconfig.errors import ConfigError, ConfigValueError
    from agent.iisconfig.reader import ConfigReader
    from agent.iisconfig.schema import SCHEMA
    from agent.iisconfig.stock import write_stock_config
    from agent.iisconfig.store import ConfigStore

_HOMES = {
    "SCHEMA": "schema",
    "ConfigCollection": "element",
    "ConfigElement": "element",
    "ConfigError": "errors",
    "ConfigReader": "reader",
    "ConfigStore": "store",
    "ConfigValueError": "errors",
    "write_stock_config": "stock",
}

__all__ = [
    "SCHEMA",
    "ConfigCollection",
    "ConfigElement",
    "ConfigError",
    "ConfigReader",
    "ConfigStore",
    "ConfigValueError",
    "write_stock_config",
]


def __getattr__(name: str) -> object:
    """Import an exported name's module the first time the name is used (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
