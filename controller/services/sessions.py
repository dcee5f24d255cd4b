"""Console sign-in sessions: an operator token in, a random session id out; only its sha256 is stored.

A session lives in Redis under the hash of its id with the operator key id and a CSRF token (synchronizer
pattern: the console sends it back in `X-CSRF-Token` on every write). It expires with the operator key
(when the key has an expiry) and never later than the session lifetime. Each use re-reads the key, so a
revoked key ends its sessions on the next request and a changed role or scope applies at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from controller.auth.operators import Operator, _operator
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


async def sign_in(store: FleetStore, operator: Operator, lifetime: float) -> tuple[str, Session]:
    """A new session for an authenticated operator key: (session id for the cookie, session)."""
    expires = time.time() + lifetime
    key_expires = key_expiry(await store.operator_key(operator.id))
    if key_expires is not None:
        expires = min(expires, key_expires)
    if expires <= time.time():
        raise NotPermitted("the operator token has expired")
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await store.add_session(_hash(session_id), {"key_id": operator.id, "csrf": csrf, "expires": f"{expires:.3f}"},
                            expires - time.time())
    return session_id, Session(key_id=operator.id, csrf=csrf, expires=expires)


async def lookup(store: FleetStore, session_id: str) -> tuple[Session, Operator] | None:
    """The live session of a cookie value and its operator, or None (unknown, expired, or its key is gone)."""
    if not session_id or len(session_id) > 128:
        return None
    record = await store.session(_hash(session_id))
    if not record or float(record.get("expires", "0")) <= time.time():
        return None
    key = await store.operator_key(record["key_id"])
    key_expires = key_expiry(key)
    if not key or key.get("revoked_on") or (key_expires is not None and key_expires <= time.time()):
        await store.delete_session(_hash(session_id))
        return None
    # The key's role and scope are read on every request, as for a token (controller/auth/operators.py).
    operator = _operator(record["key_id"], key)
    if operator is None:
        return None
    return Session(key_id=record["key_id"], csrf=record["csrf"], expires=float(record["expires"])), operator


def csrf_ok(session: Session, method: str, header: str | None) -> bool:
    """Reads need nothing; every other method must echo the session's CSRF token."""
    if method.upper() in SAFE_METHODS:
        return True
    return bool(header) and hmac.compare_digest(session.csrf.encode(), (header or "").encode())


async def sign_out(store: FleetStore, session_id: str) -> None:
    """Forget a session."""
    await store.delete_session(_hash(session_id))
