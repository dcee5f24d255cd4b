"""JSON models of API keys and access tokens (reference 9.3-9.5); `_links` only for HAL clients."""

from __future__ import annotations

from typing import Any

from agent.security.api_key_store import ApiKey
from shared.dates import format_date, utcnow

API_KEYS_PATH = "/security/api-keys"
ACCESS_TOKENS_PATH = "/security/access-tokens"
ACCESS_TOKEN_PATH = "/api/access-token"


def _links(hal: bool, **hrefs: str) -> dict[str, Any]:
    return {"_links": {name: {"href": hrefs[name]} for name in sorted(hrefs)}} if hal else {}


def key_model(key: ApiKey, *, hal: bool, access_token: str | None = None) -> dict[str, Any]:
    """An API key; `access_token` only in the create response."""
    model: dict[str, Any] = {
        "purpose": key.purpose,
        "id": key.id,
        "created_on": format_date(key.created_on),
        "last_modified": format_date(key.last_modified),
        "expires_on": format_date(key.expires_on),
    }
    if access_token is not None:
        model["access_token"] = access_token
    model.update(_links(hal, self=f"{API_KEYS_PATH}/{key.id}", access_token=f"{ACCESS_TOKENS_PATH}/{key.id}"))
    return model


def token_model(key: ApiKey, *, hal: bool, self_href: str, value: str | None = None) -> dict[str, Any]:
    """The token of a key; `created_on` and `value` only right after a renewal."""
    model: dict[str, Any] = {"id": key.id}
    if value is not None:
        model["created_on"] = format_date(utcnow())
    model["expires_on"] = format_date(key.expires_on)
    if value is not None:
        model["value"] = value
    model["type"] = key.token_type
    model["api_key"] = {"purpose": key.purpose, "id": key.id, **_links(hal, self=f"{API_KEYS_PATH}/{key.id}")}
    model.update(_links(hal, self=self_href))
    return model
