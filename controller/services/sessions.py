"""Console sign-in sessions: an operator token in, a random session id out; only its sha256 is stored.

A session lives in Redis under the hash of its id with the operator key id and a CSRF token (synchronizer
pattern: the console sends it back in `X-CSRF-Token` on every write). It expires with the operator key
(when the key has an expiry) and never later than the session lifetime. Each use re-checks the key, so a
revoked key ends its sessions on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from controller.services.credentials import authenticate_operator
from controller.services.errors import NotPermitted
from controller.store import FleetStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A live session: who it is and the CSRF token writes must carry."""

    key_id: str
    csrf: str
    expires: float


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def key_expiry(record: dict[str, str]) -> float | None:
    """The epoch time an operator key expires (None: never): its `expires` epoch or `expires_on` ISO field."""
    try:
        if record.get("expires"):
            return float(record["expires"])
        if record.get("expires_on"):
            return datetime.fromisoformat(record["expires_on"]).timestamp()
    except ValueError:
        return time.time()  # an unreadable expiry counts as expired: fail closed
    return None


async def sign_in(store: FleetStore, token: str, lifetime: float) -> tuple[str, Session]:
    """A new session for a valid operator token: (session id for the cookie, session)."""
    key_id = await authenticate_operator(store, token)
    if key_id is None:
        raise NotPermitted("the operator token is unknown, revoked or expired")
    expires = time.time() + lifetime
    key_expires = key_expiry(await store.operator_key(key_id))
    if key_expires is not None:
        expires = min(expires, key_expires)
    if expires <= time.time():
        raise NotPermitted("the operator token has expired")
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await store.add_session(_hash(session_id), {"key_id": key_id, "csrf": csrf, "expires": f"{expires:.3f}"},
                            expires - time.time())
    return session_id, Session(key_id=key_id, csrf=csrf, expires=expires)


async def lookup(store: FleetStore, session_id: str) -> Session | None:
    """The live session of a cookie value, or None (unknown, expired, or its key is gone)."""
    if not session_id or len(session_id) > 128:
        return None
    record = await store.session(_hash(session_id))
    if not record or float(record.get("expires", "0")) <= time.time():
        return None
    key = await store.operator_key(record["key_id"])
    if not key or key.get("revoked_on"):
        await store.delete_session(_hash(session_id))
        return None
    key_expires = key_expiry(key)
    if key_expires is not None and key_expires <= time.time():
        return None
    return Session(key_id=record["key_id"], csrf=record["csrf"], expires=float(record["expires"]))


def csrf_ok(session: Session, method: str, header: str | None) -> bool:
    """Reads need nothing; every other method must echo the session's CSRF token."""
    if method.upper() in SAFE_METHODS:
        return True
    return bool(header) and hmac.compare_digest(session.csrf.encode(), (header or "").encode())


async def sign_out(store: FleetStore, session_id: str) -> None:
    """Forget a session."""
    await store.delete_session(_hash(session_id))
