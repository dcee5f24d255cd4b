"""`/security/access-tokens`: the XSRF handshake helper and token renewal by key id (reference 9.5)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agent.api.http import json_response, read_json, wants_hal
from agent.keys import KEY_STORE
from agent.security.api_key_store import UnknownKey
from agent.security.models import ACCESS_TOKENS_PATH, token_model
from agent.security.xsrf import issue_xsrf, require_xsrf
from shared.errors import InvalidParameter, NotFound

RESOURCE = "Microsoft.WebServer.AccessToken"


async def list_access_tokens(request: web.Request) -> web.StreamResponse:
    """204 with a fresh XSRF pair: the handshake before a renewal."""
    response = web.Response(status=204)
    issue_xsrf(request, response)
    return response


async def get_access_token_info(request: web.Request) -> web.StreamResponse:
    """The token of one key (never its value); issues an XSRF pair."""
    key_id = request.match_info["id"]
    key = request.app[KEY_STORE].get(key_id)
    if key is None:
        raise NotFound(name="id")
    body = token_model(key, hal=wants_hal(request), self_href=f"{ACCESS_TOKENS_PATH}/{key_id}")
    response = json_response(request, body, resource=RESOURCE)
    issue_xsrf(request, response)
    return response


async def renew_key_token(request: web.Request) -> web.StreamResponse:
    """Renew the token of `api_key.id`; the old token dies at once."""
    require_xsrf(request)
    body = await read_json(request)
    api_key = body.get("api_key")
    key_id = api_key.get("id") if isinstance(api_key, dict) else None
    if not isinstance(key_id, str) or not key_id:
        raise InvalidParameter("api_key")
    try:
        key, token = await asyncio.to_thread(request.app[KEY_STORE].renew, key_id)
    except UnknownKey as err:
        raise NotFound(name="api_key") from err
    href = f"{ACCESS_TOKENS_PATH}/{key.id}"
    model = token_model(key, hal=wants_hal(request), self_href=href, value=token)
    return json_response(request, model, status=201, resource=RESOURCE, location=href)
