"""CORS for the gateway, so a browser client of another origin (the web manager) can use it as an API root.

Only gateway paths (`/api/agents/{id}/iis...`) take part, and only origins from CONTROLLER_CORS_ORIGINS
(default `https://manage.iis.net`, upstream's default). Credentials are allowed, so the allowed origin is
echoed, never `*`. Preflights end here with 204 before authentication, as upstream does; the actual answers
get their headers in `on_response_prepare`, which also covers the gateway's streamed responses.
"""

from __future__ import annotations

import re

from aiohttp import web

from controller.api.routing import Handler
from controller.keys import SETTINGS
from shared.cors import allow_origin

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_GATEWAY = re.compile(r"^/api/agents/[^/]+/iis(?:/|$)")
CORS_ORIGIN = web.RequestKey("cors_origin", str)
"""The allowed Origin of a cross-origin gateway request."""


def _allowed(request: web.Request) -> str | None:
    origin = request.headers.get("Origin", "").rstrip("/")
    if not origin or not _GATEWAY.match(request.path):
        return None
    allowed = {o.lower() for o in request.app[SETTINGS].cors_origins}
    return origin if origin.lower() in allowed or "*" in allowed else None


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer gateway preflights; mark allowed cross-origin gateway calls for on_response_prepare."""
    origin = _allowed(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers and _GATEWAY.match(
        request.path
    ):
        response = web.Response(status=204, headers={"Vary": "Origin"})
        if origin:
            response.headers.update({
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", ""),
                "Access-Control-Max-Age": "600",
            })
        return response
    if origin:
        request[CORS_ORIGIN] = origin
    return await handler(request)


async def cors_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Add the CORS headers to every answer of an allowed cross-origin gateway call (errors included)."""
    origin = request.get(CORS_ORIGIN)
    if origin is None:
        return
    allow_origin(response, origin)


def access_token(request: web.Request) -> str | None:
    """The token of upstream's `Access-Token: Bearer <token>` header (gateway calls only)."""
    if not _GATEWAY.match(request.path):
        return None
    scheme, _, token = request.headers.get("Access-Token", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
