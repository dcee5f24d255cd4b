"""Console sessions over HTTP: sign in (cookie), who am I, sign out; and the session check the auth middleware uses.

The cookie is `__Host-iisfleet_session`: HttpOnly, Secure, SameSite=Strict, Path=/ and no Domain, so only
this origin over HTTPS ever sends it. Writes made with it must carry the session's CSRF token in
`X-CSRF-Token`; a request whose Origin is another site is never authenticated by the cookie at all.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from controller.api.http import read_object
from controller.api.session_auth import COOKIE, CSRF_HEADER, same_origin
from controller.auth.operators import Operator
from controller.keys import AUTH_GUARD, OPERATOR, SESSION, SETTINGS, STORE
from controller.services import sessions
from shared.errors import Forbidden, InvalidParameter


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def whoami(request: web.Request, operator: Operator, session: sessions.Session | None) -> dict[str, Any]:
    """The caller's key id, purpose, role, scope and expiry (and the CSRF token of a session)."""
    record = await request.app[STORE].operator_key(operator.id)
    expires = sessions.key_expiry(record)
    body: dict[str, Any] = {
        "key_id": operator.id,
        "purpose": operator.purpose,
        "role": operator.role,
        "scope": dict(operator.scope),
        "expires_on": _iso(expires) if expires is not None else None,
        "auth": "session" if session else "bearer",
    }
    if session is not None:
        body["csrf_token"] = session.csrf
        body["session_expires_on"] = _iso(session.expires)
    return body


async def create_session(request: web.Request) -> web.Response:
    """POST /api/session: {"token": operator token} -> session cookie + who am I (with the CSRF token)."""
    if not same_origin(request):
        raise Forbidden(name="Origin", detail="sign in from the console's own origin")
    body = await read_object(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidParameter("token", "an operator token is required")
    # The guard checks the token as for any request: failures count towards the address's limit (429).
    operator = await request.app[AUTH_GUARD].authenticate(request.app[STORE], token.strip(), request.remote or "")
    session_id, session = await sessions.sign_in(request.app[STORE], operator, request.app[SETTINGS].session_lifetime)
    response = web.json_response(await whoami(request, operator, session), status=201)
    response.set_cookie(COOKIE, session_id, max_age=max(1, int(session.expires - time.time())), path="/",
                        secure=True, httponly=True, samesite="Strict")
    response.headers["Cache-Control"] = "no-store"
    return response


async def get_session(request: web.Request) -> web.Response:
    """GET /api/session: who the caller is (bearer token or session)."""
    body = await whoami(request, request[OPERATOR], request.get(SESSION))
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def delete_session(request: web.Request) -> web.Response:
    """DELETE /api/session: sign out (public, so any role can; the session's CSRF token is still required)."""
    cookie = request.cookies.get(COOKIE)
    found = await sessions.lookup(request.app[STORE], cookie) if cookie and same_origin(request) else None
    if found is not None:
        if not sessions.csrf_ok(found[0], request.method, request.headers.get(CSRF_HEADER)):
            raise Forbidden(name=CSRF_HEADER, detail=f"signing out needs the {CSRF_HEADER} header")
        await sessions.sign_out(request.app[STORE], cookie or "")
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response
