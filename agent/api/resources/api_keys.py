"""`/security/api-keys`: API key management with the XSRF handshake (reference 9.4)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web

from agent.api.http import json_response, list_response, read_json, wants_hal
from agent.keys import KEY_STORE
from agent.security.api_key_store import UnknownKey
from agent.security.models import API_KEYS_PATH, key_model
from agent.security.xsrf import issue_xsrf, require_xsrf
from shared.dates import parse_optional
from shared.errors import InvalidParameter, NotFound

RESOURCE = "Microsoft.WebServer.ApiKey"
LIST_RESOURCE = "Microsoft.WebServer.ApiKeys"


def _date(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidParameter(name, "A date is required.")
    try:
        return parse_optional(value)
    except ValueError as err:
        raise InvalidParameter(name, f"Not a valid date: {value!r}.") from err


def _purpose(body: dict[str, Any]) -> str | None:
    # Upstream quirk kept: a non-string purpose counts as absent.
    value = body.get("purpose")
    return value if isinstance(value, str) else None


async def list_api_keys(request: web.Request) -> web.StreamResponse:
    """Every key (never their tokens); issues an XSRF pair."""
    hal = wants_hal(request)
    keys = [key_model(key, hal=hal) for key in request.app[KEY_STORE].list()]
    response = list_response(request, "api_keys", keys, resource=LIST_RESOURCE)
    issue_xsrf(request, response)
    return response


async def get_api_key(request: web.Request) -> web.StreamResponse:
    """One key; issues an XSRF pair when found."""
    key = request.app[KEY_STORE].get(request.match_info["id"])
    if key is None:
        raise NotFound(name="id")
    response = json_response(request, key_model(key, hal=wants_hal(request)), resource=RESOURCE)
    issue_xsrf(request, response)
    return response


async def create_api_key(request: web.Request) -> web.StreamResponse:
    """A new key; the response is the only place its token ever appears."""
    require_xsrf(request)
    body = await read_json(request)
    if "expires_on" not in body:
        raise InvalidParameter("expires_on", 'The expires_on member is required ("" or null for never).')
    expires_on = _date(body, "expires_on")
    key, token = await asyncio.to_thread(request.app[KEY_STORE].create, _purpose(body) or "", expires_on)
    model = key_model(key, hal=wants_hal(request), access_token=token)
    return json_response(request, model, status=201, resource=RESOURCE, location=f"{API_KEYS_PATH}/{key.id}")


async def update_api_key(request: web.Request) -> web.StreamResponse:
    """Change purpose and/or expiry; `""` cannot clear an expiry (as upstream)."""
    require_xsrf(request)
    key_id = request.match_info["id"]
    store = request.app[KEY_STORE]
    if store.get(key_id) is None:
        raise NotFound(name="id")
    body = await read_json(request)
    purpose, expires_on = _purpose(body), _date(body, "expires_on")
    try:
        key = await asyncio.to_thread(store.update, key_id, purpose=purpose, expires_on=expires_on)
    except UnknownKey as err:
        raise NotFound(name="id") from err
    return json_response(request, key_model(key, hal=wants_hal(request)), resource=RESOURCE)


async def delete_api_key(request: web.Request) -> web.StreamResponse:
    """Delete a key (204 also for unknown ids); its token stops working at once."""
    require_xsrf(request)
    await asyncio.to_thread(request.app[KEY_STORE].delete, request.match_info["id"])
    return web.Response(status=204)


KEY_BODY = {
    "type": "object",
    "properties": {
        "purpose": {"type": "string"},
        "expires_on": {"type": ["string", "null"], "description": 'ISO date; "" or null = never'},
    },
}
