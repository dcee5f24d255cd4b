"""`/api/access-token`: the token of the calling request, and its renewal (reference 9.3)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agent.api.http import json_response, wants_hal
from agent.keys import KEY_STORE
from agent.security.api_key_store import ApiKey, UnknownKey
from agent.security.auth import current_key
from agent.security.models import ACCESS_TOKEN_PATH, token_model
from agent.security.scopes import require_self_renewal
from shared.errors import NotFound

RESOURCE = "Microsoft.WebServer.AccessToken"


def _caller(request: web.Request) -> ApiKey:
    key = current_key(request)
    if key is None:
        raise NotFound(detail="The request was not authenticated with an access token.")
    return key


async def get_access_token(request: web.Request) -> web.StreamResponse:
    """The API key behind this request's token."""
    key = _caller(request)
    return json_response(
        request, token_model(key, hal=wants_hal(request), self_href=ACCESS_TOKEN_PATH), resource=RESOURCE
    )


async def renew_access_token(request: web.Request) -> web.StreamResponse:
    """Give the calling key a new token; the one used for this request dies at once."""
    key = _caller(request)
    require_self_renewal(key.id, key.scope)
    try:
        renewed, token = await asyncio.to_thread(request.app[KEY_STORE].renew, key.id)
    except UnknownKey as err:
        raise NotFound(name="id") from err
    body = token_model(renewed, hal=wants_hal(request), self_href=ACCESS_TOKEN_PATH, value=token)
    return json_response(request, body, status=201, resource=RESOURCE, location=ACCESS_TOKEN_PATH)
