"""Console sessions over HTTP: sign in (cookie), who am I, sign out; and the session check the auth middleware uses.

The cookie is `__Host-iisfleet_session`: HttpOnly, Secure, SameSite=Strict, Path=/ and no Domain, so only
this origin over HTTPS ever sends it. Writes made with it must carry the session's CSRF token in
`X-CSRF-Token`; a request whose Origin is another site is never authenticated by the cookie at all.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from controller.api.http import read_object
from controller.keys import OPERATOR, SESSION, SETTINGS, STORE
from controller.services import sessions
from shared.errors import Forbidden, InvalidParameter

COOKIE = "__Host-iisfleet_session"
CSRF_HEADER = "X-CSRF-Token"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def session_operator(request: web.Request) -> str | None:
    """The key id of the request's session cookie (None without a live one); Forbidden on a write without CSRF."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or not _same_origin(request):
        return None
    session = await sessions.lookup(request.app[STORE], cookie)
    if session is None:
        return None
    if not sessions.csrf_ok(session, request.method, request.headers.get(CSRF_HEADER)):
        raise Forbidden(name=CSRF_HEADER, detail=f"a write made with the console session needs the {CSRF_HEADER} "
                                                 "header holding the session's CSRF token")
    request[SESSION] = session
    return session.key_id


async def whoami(request: web.Request, key_id: str, session: sessions.Session | None) -> dict[str, Any]:
    """The caller's key id, purpose, role, scope and expiry (and the CSRF token of a session)."""
    record = await request.app[STORE].operator_key(key_id)
    scope = json.loads(record.get("scope") or "{}")
    body: dict[str, Any] = {
        "key_id": key_id,
        "purpose": record.get("purpose", ""),
        # Keys made before roles existed are admin with no scope (issue 9 keeps that rule).
        "role": record.get("role") or "admin",
        "scope": scope if isinstance(scope, dict) else {},
        "expires_on": record.get("expires_on") or None,
        "auth": "session" if session else "bearer",
    }
    if session is not None:
        body["csrf_token"] = session.csrf
        body["session_expires_on"] = _iso(session.expires)
    return body


async def create_session(request: web.Request) -> web.Response:
    """POST /api/session: {"token": operator token} -> session cookie + who am I (with the CSRF token)."""
    if not _same_origin(request):
        raise Forbidden(name="Origin", detail="sign in from the console's own origin")
    body = await read_object(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidParameter("token", "an operator token is required")
    session_id, session = await sessions.sign_in(request.app[STORE], token.strip(),
                                                 request.app[SETTINGS].session_lifetime)
    response = web.json_response(await whoami(request, session.key_id, session), status=201)
    response.set_cookie(COOKIE, session_id, max_age=max(1, int(session.expires - time.time())), path="/",
                        secure=True, httponly=True, samesite="Strict")
    response.headers["Cache-Control"] = "no-store"
    return response


async def get_session(request: web.Request) -> web.Response:
    """GET /api/session: who the caller is (bearer token or session)."""
    body = await whoami(request, request[OPERATOR], request.get(SESSION))
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def delete_session(request: web.Request) -> web.Response:
    """DELETE /api/session: sign out (the cookie is cleared and the session forgotten)."""
    cookie = request.cookies.get(COOKIE)
    if cookie and request.get(SESSION) is not None:
        await sessions.sign_out(request.app[STORE], cookie)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response
