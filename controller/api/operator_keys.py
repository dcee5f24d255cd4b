"""Admin routes over operator keys: create (token shown once), list (never a secret), revoke."""

from __future__ import annotations

from aiohttp import web

from controller.api.http import read_object
from controller.auth.operators import create_key as create
from controller.auth.operators import list_keys as keys_of
from controller.auth.operators import parse_role
from controller.auth.operators import revoke_key as revoke
from controller.keys import OPERATOR, SETTINGS, STORE
from controller.services import audit
from controller.services.credentials import check_labels
from controller.settings import SettingsError, parse_duration
from shared.errors import InvalidParameter


async def create_key(request: web.Request) -> web.Response:
    """POST /api/keys: {"purpose", "role", "scope": {...}, "expires": "30d"} -> {"token", "key"}."""
    body = await read_object(request)
    unknown = sorted(set(body) - {"purpose", "role", "scope", "expires"})
    if unknown:
        raise InvalidParameter(unknown[0], "unknown member")
    scope = body.get("scope") or {}
    if not isinstance(scope, dict):
        raise InvalidParameter("scope", "scope must be an object of label values")
    expires = body.get("expires")
    try:
        lifetime = parse_duration(str(expires)) if expires not in (None, "") else None
    except SettingsError as err:
        raise InvalidParameter("expires", str(err)) from err
    operator = request[OPERATOR]
    token, view = await create(request.app[STORE], str(body.get("purpose") or ""),
                               parse_role(str(body.get("role") or "")), check_labels(scope), lifetime, by=operator)
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, operator, "key.create",
                       key=view["id"], role=view["role"])
    return web.json_response({"token": token, "key": view}, status=201)


async def list_keys(request: web.Request) -> web.Response:
    """GET /api/keys."""
    return web.json_response({"keys": await keys_of(request.app[STORE])})


async def revoke_key(request: web.Request) -> web.Response:
    """DELETE /api/keys/{id}: the key answers 401 from the next request on, on every controller."""
    operator = request[OPERATOR]
    view = await revoke(request.app[STORE], request.match_info["id"], by=operator)
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, operator, "key.revoke", key=view["id"])
    return web.json_response(view)
