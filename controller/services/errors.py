"""The errors services raise; the API layer maps each to one HTTP status.

ServiceError
├── InvalidRequest   400  a request that cannot be acted on as sent
├── NotPermitted     403  a credential that is unknown, expired, used up or revoked
├── UnknownAgent     404  no agent has this id
├── Conflict         409  a name another agent holds
└── TooLarge         413  an upload over its size limit
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the controller's service errors; the message is shown to the caller."""


class InvalidRequest(ServiceError):
    """A request that cannot be acted on as sent; `name` is the member at fault (JSON path)."""

    def __init__(self, message: str, *, name: str = "request") -> None:
        super().__init__(message)
        self.name = name


class NotPermitted(ServiceError):
    """A credential that is unknown, expired, used up or revoked."""


class UnknownAgent(ServiceError):
    """No agent has this id."""


class Conflict(ServiceError):
    """A name another agent holds."""


class TooLarge(ServiceError):
    """An upload over its size limit."""
