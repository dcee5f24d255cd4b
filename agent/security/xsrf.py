"""The XSRF handshake of the security area (reference 9.6): issue on GETs, require on state changes."""

from __future__ import annotations

import logging

from aiohttp import web

from agent.keys import PRINCIPAL, XSRF
from shared.errors import ApiError

HEADER = "XSRF-TOKEN"
COOKIE = "XSRF-TOKEN"

log = logging.getLogger("iisfleet.agent.security")


class XsrfInvalid(ApiError):
    """A state-changing security request without a valid XSRF pair (ASP.NET Core 6 answers 400)."""

    status = 400
    title = "Bad Request"

    def __init__(self) -> None:
        super().__init__(detail="XSRF token missing or invalid")


def _identity(request: web.Request) -> str:
    # Pairs are bound to the caller: the id of the API key that authenticated the request.
    key = request.get(PRINCIPAL)
    return key.id if key is not None else ""


def issue_xsrf(request: web.Request, response: web.StreamResponse) -> None:
    """Add the XSRF-TOKEN header and (unless the caller's cookie is still valid) the cookie."""
    protector = request.app[XSRF]
    cookie = request.cookies.get(COOKIE)
    if not protector.cookie_valid(cookie):
        cookie = protector.new_cookie_token()
        response.set_cookie(COOKIE, cookie, path="/", samesite="Strict", httponly=True)
    assert cookie is not None
    response.headers[HEADER] = protector.request_token(cookie, _identity(request))
    # As ASP.NET Core's antiforgery layer: a response carrying a token is never cached or framed.
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"


def require_xsrf(request: web.Request) -> None:
    """Raise XsrfInvalid unless the request carries a pair issued to its caller."""
    protector = request.app[XSRF]
    if not protector.pair_valid(request.cookies.get(COOKIE), request.headers.get(HEADER), _identity(request)):
        log.warning("rejected %s %s: XSRF token missing or invalid", request.method, request.path)
        raise XsrfInvalid()
