"""The console's session cookie as a credential: which operator it stands for, and its CSRF check.

The auth middleware calls this for a request without a token; the session handlers live in session.py.
"""

from __future__ import annotations

from aiohttp import web

from controller.auth.errors import TokenRefused
from controller.auth.operators import Operator
from controller.keys import SESSION, STORE
from controller.services import sessions
from shared.errors import Forbidden

COOKIE = "__Host-iisfleet_session"
CSRF_HEADER = "X-CSRF-Token"


def same_origin(request: web.Request) -> bool:
    """No Origin header, or this server's own: a cookie from another site's page never authenticates."""
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def session_operator(request: web.Request) -> Operator:
    """The operator of the request's session cookie; TokenRefused (401) without a live one from this origin,
    Forbidden (403) for a write without the session's CSRF token."""
    cookie = request.cookies.get(COOKIE)
    found = await sessions.lookup(request.app[STORE], cookie) if cookie and same_origin(request) else None
    if found is None:
        raise TokenRefused()
    session, operator = found
    if not sessions.csrf_ok(session, request.method, request.headers.get(CSRF_HEADER)):
        raise Forbidden(name=CSRF_HEADER, detail=f"a write made with the console session needs the {CSRF_HEADER} "
                                                 "header holding the session's CSRF token")
    request[SESSION] = session
    return operator
