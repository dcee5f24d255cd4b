"""HTTP errors of operator authentication (problem+json, like every other answer of the controller)."""

from __future__ import annotations

from shared.errors import ApiError


class TokenRefused(ApiError):
    """No token, or one that is malformed, unknown, expired or revoked: 401 with a Bearer challenge."""

    status = 401
    title = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(detail="a valid operator token is needed (Authorization: Bearer <token>)",
                         authentication_scheme="Bearer")

    def headers(self) -> dict[str, str]:
        """RFC 6750's challenge."""
        return {"WWW-Authenticate": 'Bearer realm="iisfleet"'}
