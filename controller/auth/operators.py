"""Operator keys: create, list, revoke and authenticate tokens that carry a role, a label scope and an expiry.

Token: `<key id>.<secret>`; Redis keeps only the sha256 of the 256-bit secret (controller/store.py, operator:*).
A key stored before roles existed has no `role` field: it counts as admin without expiry, so upgrades keep
working. Revocation is a field on the record, read on every request, so it holds on every controller at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.auth.roles import ROLES, Role, selector_within
from controller.services.errors import InvalidRequest, NotPermitted, UnknownAgent
from controller.store import FleetStore
from shared.fleet_identity import OPERATOR_HEADER

OPERATOR_TOKEN = re.compile(r"^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
LAST_USED_EVERY = 60.0
"""Seconds between two writes of a key's `last_used` (one Redis write per key per minute at most)."""
HEADER = OPERATOR_HEADER
"""The header that tells an agent which operator a controller call is made for."""


def token_hash(secret: str) -> str:
    """The stored form of a token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC time in seconds."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    """The operator key that authenticated a request: who did it, what it may do, and on which agents."""

    id: str
    purpose: str
    role: Role
    scope: dict[str, str] = field(default_factory=dict)

    def header(self) -> str:
        """The `X-IISFleet-Operator` value: compact ASCII JSON of id, purpose and role (purpose made printable)."""
        purpose = "".join(c if c.isprintable() else " " for c in self.purpose)[:200]
        return json.dumps({"id": self.id, "purpose": purpose, "role": self.role}, separators=(",", ":"))

    def attribution(self) -> dict[str, str]:
        """The fields records and audit entries carry for this operator."""
        return {"operator": self.id, "operator_purpose": self.purpose, "operator_role": self.role}


SYSTEM = Operator(id="", purpose="", role="admin")
"""Work the controller does on its own (no operator key)."""

SCRAPER = Operator(id="scrape-certificate", purpose="Prometheus scrape", role="viewer")
"""A Prometheus scrape certificate: reaches only the `metrics` rows (fleet /metrics and http_sd), fleet-wide."""


def parse_role(text: str) -> Role:
    """A role name, checked."""
    if text not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {text!r}", name="role")
    return text


def _operator(key_id: str, record: Mapping[str, str]) -> Operator | None:
    """The operator of a stored key; None (refused) for a role this version does not know."""
    role = record.get("role") or "admin"  # keys from before roles
    if role not in ROLES:
        return None
    return Operator(id=key_id, purpose=record.get("purpose", ""), role=role,
                    scope=dict(json.loads(record.get("scope") or "{}")))


def key_view(key_id: str, record: Mapping[str, str]) -> dict[str, Any]:
    """The public form of a key: never the secret or its hash."""
    expires = float(record["expires"]) if record.get("expires") else None
    last_used = float(record["last_used"]) if record.get("last_used") else None
    return {
        "id": key_id,
        "purpose": record.get("purpose", ""),
        "role": record.get("role") or "admin",
        "scope": json.loads(record.get("scope") or "{}"),
        "created_on": record.get("created_on", ""),
        "expires_on": iso(expires) if expires is not None else None,
        "last_used": iso(last_used) if last_used is not None else None,
        "revoked_on": record.get("revoked_on") or None,
        "created_by": record.get("created_by") or None,
        "revoked_by": record.get("revoked_by") or None,
    }


async def create_key(
    store: FleetStore,
    purpose: str,
    role: Role,
    scope: Mapping[str, str] | None = None,
    expires_in: float | None = None,
    by: Operator = SYSTEM,
) -> tuple[str, dict[str, Any]]:
    """Create a key; (token, public view). The token is visible only here."""
    purpose = purpose.strip()
    if not purpose or len(purpose) > 200 or not purpose.isprintable():
        raise InvalidRequest("purpose must be 1 to 200 printable characters", name="purpose")
    if expires_in is not None and expires_in <= 0:
        raise InvalidRequest("a key's lifetime must be positive", name="expires")
    scope = dict(scope or {})
    # A scoped caller cannot mint a key that reaches further than itself.
    if not selector_within(by.scope, scope):
        raise NotPermitted("a scoped key can only create keys whose scope includes its own labels")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    now = time.time()
    fields = {
        "token_hash": token_hash(secret),
        "purpose": purpose,
        "role": role,
        "scope": json.dumps(scope, separators=(",", ":")),
        "created_on": iso(now),
        "expires": f"{now + expires_in:.3f}" if expires_in is not None else "",
        "created_by": by.id,
    }
    await store.add_operator_key(key_id, fields)
    return f"{key_id}.{secret}", key_view(key_id, fields)


async def list_keys(store: FleetStore) -> list[dict[str, Any]]:
    """Every key's public view, oldest first."""
    views = [key_view(key_id, await store.operator_key(key_id)) for key_id in await store.operator_key_ids()]
    return sorted(views, key=lambda view: (view["created_on"], view["id"]))


async def revoke_key(store: FleetStore, id_or_token: str, by: Operator = SYSTEM) -> dict[str, Any]:
    """Revoke a key named by its id or its whole token; the next request with it answers 401."""
    text = id_or_token.strip()
    match = OPERATOR_TOKEN.match(text)
    key_id = match.group(1) if match else text
    if not KEY_ID.match(key_id):
        raise InvalidRequest("give a key id (16 hex digits) or a whole token", name="id")
    record = await store.operator_key(key_id)
    if match and record and not hmac.compare_digest(record.get("token_hash", ""), token_hash(match.group(2))):
        record = {}
    if not record:
        raise UnknownAgent(f"no operator key has id {key_id!r}")
    if not record.get("revoked_on"):
        record["revoked_on"] = iso(time.time())
        record["revoked_by"] = by.id
        await store.update_operator_key(key_id, {"revoked_on": record["revoked_on"], "revoked_by": by.id})
    return key_view(key_id, record)


async def check_token(store: FleetStore, key_id: str, secret_hash: str) -> Operator | None:
    """The operator of a key whose stored hash matches, that is neither revoked nor expired; else None."""
    record = await store.operator_key(key_id)
    expected = record.get("token_hash", "")
    if not expected or not hmac.compare_digest(expected, secret_hash):
        return None
    now = time.time()
    if record.get("revoked_on") or (record.get("expires") and float(record["expires"]) <= now):
        return None
    if now - float(record.get("last_used") or 0) >= LAST_USED_EVERY:
        await store.update_operator_key(key_id, {"last_used": f"{now:.3f}"})
    return _operator(key_id, record)
