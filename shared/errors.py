"""API errors and their upstream problem+json bodies.

The tree, raised anywhere below the HTTP layer and turned into a response once by the error middleware::

    ApiError                      status, title; body() -> {"title", "status", ...}
    ├── InvalidParameter   400    "Invalid parameter", name, detail
    ├── OutOfRange         400    "Out of range", name, min_value, max_value
    ├── InvalidJsonObject  415    "Invalid JSON request object" (a JSON null body)
    ├── Unauthorized       403    "Unauthorized", authentication_scheme "Bearer" (+ WWW-Authenticate)
    ├── Forbidden          403    "Forbidden", name, detail
    ├── Locked             403    "Object is locked", name
    ├── NotFound           404    "Not found", name, detail
    ├── NotAllowed         405    "Not Allowed", message
    ├── AlreadyExists      409    "Conflict", detail "Already exists", name
    ├── PayloadTooLarge    413    "Request too large"
    ├── TooManyRequests    429    "Too many requests" (+ Retry-After)
    ├── ServiceUnavailable 503    "Service unavailable", detail (a host backend that cannot act)
    └── ServerError        500    "Server error", detail, name
"""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """An error with an upstream problem+json body."""

    status: int = 500
    title: str = "Server error"

    def __init__(self, *, detail: str | None = None, name: str | None = None, **extra: Any) -> None:
        super().__init__(detail or name or self.title)
        self.detail = detail
        self.name = name
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The problem+json object, with only the members that have values."""
        body: dict[str, Any] = {"title": self.title}
        if self.name is not None:
            body["name"] = self.name
        if self.detail is not None:
            body["detail"] = self.detail
        body.update(self.extra)
        body["status"] = self.status
        return body

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}


class InvalidParameter(ApiError):
    """A missing or unparsable parameter; `name` is the JSON path of the member."""

    status = 400
    title = "Invalid parameter"

    def __init__(self, name: str, detail: str | None = None) -> None:
        super().__init__(name=name, detail=detail)


class OutOfRange(ApiError):
    """A number outside its allowed range."""

    status = 400
    title = "Out of range"

    def __init__(self, name: str, min_value: int | float, max_value: int | float) -> None:
        super().__init__(
            name=name,
            detail=f"Value must be between {min_value} and {max_value} inclusive.",
            min_value=min_value,
            max_value=max_value,
        )


class InvalidJsonObject(ApiError):
    """The body was the JSON literal null where an object is required."""

    status = 415
    title = "Invalid JSON request object"

    def headers(self) -> dict[str, str]:
        """Upstream names the accepted patch format."""
        return {"Accept-Patch": "application/json;charset=utf-8"}


class Unauthorized(ApiError):
    """A missing, malformed, unknown or expired access token."""

    status = 403
    title = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(authentication_scheme="Bearer")

    def headers(self) -> dict[str, str]:
        """Tell the client which scheme it needs."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    """An argument the caller may not use, such as a path outside the file locations."""

    status = 403
    title = "Forbidden"


class Locked(ApiError):
    """A configuration section locked by a parent level."""

    status = 403
    title = "Object is locked"


class NotFound(ApiError):
    """An unknown resource, id or parameter target."""

    status = 404
    title = "Not found"


class NotAllowed(ApiError):
    """A method this resource does not allow."""

    status = 405
    title = "Not Allowed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__()
        if message:
            self.extra["message"] = message


class AlreadyExists(ApiError):
    """A name, key or binding that is already taken."""

    status = 409
    title = "Conflict"

    def __init__(self, name: str, detail: str = "Already exists") -> None:
        super().__init__(name=name, detail=detail)


class PayloadTooLarge(ApiError):
    """A request body over the configured limit."""

    status = 413
    title = "Request too large"


class TooManyRequests(ApiError):
    """Too many failed authentications from one address; `Retry-After` says when to come back."""

    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__(detail="Too many failed authentications from this address; retry later.")
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        """When the address may try again."""
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(ApiError):
    """The host backend cannot carry out a runtime action (start, stop, recycle)."""

    status = 503
    title = "Service unavailable"


class ServerError(ApiError):
    """An operation that failed on the server side."""

    status = 500
    title = "Server error"
