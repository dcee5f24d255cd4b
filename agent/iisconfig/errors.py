"""Errors raised by the applicationHost.config layer.

ConfigError
 └── ConfigValueError   a value the schema rejects (bad type, out of range, unknown enum name, duplicate key)
"""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """The configuration file cannot be read, parsed or written, or an operation is not allowed."""


class ConfigValueError(ConfigError):
    """A value rejected by the schema; `attribute` names the IIS attribute, min/max are set for range errors."""

    def __init__(self, attribute: str, message: str, *, min_value: Any = None, max_value: Any = None) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.min_value = min_value
        self.max_value = max_value
