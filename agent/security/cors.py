"""The CORS middleware: answers every OPTIONS request and adds CORS headers to /api responses.

It is the outermost middleware, so it also decorates the error middleware's problem responses. An
`on_response_prepare` hook (installed by setup) covers responses a handler prepared itself (streams).
"""

from __future__ import annotations

import logging

from aiohttp import web

from agent.keys import CORS, CORS_ORIGIN
from agent.security.cors_policy import ALLOW_METHODS, participates
from shared.cors import allow_origin
from shared.handler import Handler

log = logging.getLogger("iisfleet.agent.security")


def _allow_header(request: web.Request) -> str | None:
    # For OPTIONS on a route without an OPTIONS handler the router has already computed the methods.
    exc = getattr(request.match_info, "http_exception", None)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return ", ".join(sorted(set(exc.allowed_methods) | {"OPTIONS"}))
    return None


def _options_response(request: web.Request, origin: str | None) -> web.Response:
    response = web.Response(status=204)
    allow = _allow_header(request)
    if allow:
        response.headers["Allow"] = allow
    if origin is None:
        return response
    if "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        response.headers["Vary"] = "Origin"
    else:
        allow_origin(response, origin)
    return response


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Preflights end here with 204; allowed cross-origin /api responses get the CORS headers."""
    header = request.headers.get("Origin")
    origin = header if header and participates(request.path) and request.app[CORS].allows(header) else None
    if request.method == "OPTIONS":
        # Upstream: every OPTIONS request ends in the CORS layer, never authenticated.
        return _options_response(request, origin)
    if origin is None:
        return await handler(request)
    request[CORS_ORIGIN] = origin
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        allow_origin(exc, origin)
        raise
    except Exception:  # noqa: BLE001 - the error middleware should catch everything; keep CORS on a bare 500
        log.exception("%s %s raised past the error middleware", request.method, request.path)
        response = web.Response(status=500)
    if not response.prepared:
        allow_origin(response, origin)
    return response


async def cors_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Add CORS headers to responses prepared inside a handler (the middleware comes too late)."""
    # Only a request with an Origin header can have one (and request.get costs a KeyError on every request).
    origin = request.get(CORS_ORIGIN) if "Origin" in request.headers else None
    if origin is not None and "Access-Control-Allow-Origin" not in response.headers:
        allow_origin(response, origin)
