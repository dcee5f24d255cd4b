"""The authorization middleware: access policies, the access-token check and the caller's key.

Evaluation order as upstream: forbidden (403, empty body) -> access token (403 Unauthorized Bearer)
-> users (a valid token satisfies every role, see policies) -> read_only (405, empty body).
IIS Fleet adds, after the token: the key's scope (403 Forbidden, agent.security.scopes) and the
operator named by the controller (400 from anybody else, agent.security.attribution).
"""

from __future__ import annotations

import logging

from aiohttp import web

from agent.keys import KEY_STORE, PRINCIPAL, SECURITY
from agent.security.api_key_store import ApiKey
from agent.security.attribution import attribute
from agent.security.metrics_cert import scraper_access
from agent.security.policies import READ_METHODS, policy_name, requirement
from agent.security.scopes import require_scope
from agent.security.throttle import authenticate
from shared.errors import Unauthorized
from shared.handler import Handler

log = logging.getLogger("iisfleet.agent.security")

_BEARER = "bearer"


def current_key(request: web.Request) -> ApiKey | None:
    """The API key whose token authenticated this request, if any."""
    return request.get(PRINCIPAL)


def bearer_token(request: web.Request) -> tuple[str | None, str]:
    """(token, where): the token of `Access-Token: Bearer …`, else of `Authorization: Bearer …`."""
    header = "Access-Token"
    value = request.headers.get(header)
    if value is None:
        header = "Authorization"
        value = request.headers.get(header)
        if value is None:
            return None, "no access token"
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != _BEARER or not token.strip():
        return None, f"malformed {header} header"
    return token.strip(), header


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the path's access policy; store the authenticated key under PRINCIPAL."""
    # Prometheus's scrape certificate decides alone, before public paths and tokens (see metrics_cert).
    scraper = scraper_access(request)
    if scraper is not None:
        return await handler(request) if scraper else web.Response(status=403)
    name = policy_name(request.path)
    if request.method == "OPTIONS" or name is None:
        return await handler(request)
    need = requirement(request.app[SECURITY], name)
    if need.forbidden:
        log.warning("refused %s %s: access policy %r is forbidden", request.method, request.path, name)
        return web.Response(status=403)
    token, where = bearer_token(request)
    key = None
    if token is not None:
        # A token verified before is answered synchronously: no coroutine, no throttle bookkeeping (a
        # throttled address keeps its verified tokens too, see throttle).
        key = request.app[KEY_STORE].cached(token)
        if key is None:
            key = await authenticate(request, token)
    if key is None and need.token:
        reason = where if token is None else f"unknown, expired or malformed token in {where}"
        log.warning("rejected %s %s: %s", request.method, request.path, reason)
        raise Unauthorized()
    if key is not None:
        require_scope(key.id, key.scope, name)
    attribute(request, key)
    if need.read_only and request.method not in READ_METHODS:
        log.info("refused %s %s: access policy %r is read-only", request.method, request.path, name)
        return web.Response(status=405, headers={"Allow": "GET, HEAD, OPTIONS"})
    if key is not None:
        request[PRINCIPAL] = key
    return await handler(request)
