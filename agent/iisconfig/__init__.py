"""applicationHost.config as the source of truth: schema with IIS defaults, sections, locations, atomic store.

This package knows nothing about HTTP (no aiohttp): the API layer and the host backends build on it.
"""

from __future__ import annotations

from agent.iisconfig.element import ConfigCollection, ConfigElement
from agent.iisconfig.errors import ConfigError, ConfigValueError
from agent.iisconfig.schema import SCHEMA
from agent.iisconfig.stock import write_stock_config
from agent.iisconfig.store import ConfigStore

__all__ = [
    "SCHEMA",
    "ConfigCollection",
    "ConfigElement",
    "ConfigError",
    "ConfigStore",
    "ConfigValueError",
    "write_stock_config",
]
