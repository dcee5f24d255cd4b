"""Operator tokens and join tokens: generation, parsing and verification (secrets are stored hashed only).

Operator token: `<key id>.<secret>`. Join token: `<token id>.<secret>.<sha256 of the CA certificate>`; the
agent pins the CA by that fingerprint before it sends anything secret (like kubeadm's discovery hash).
Both secrets are 256 random bits, so one sha256 is enough to make the stored hash useless to a reader.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from controller.auth.operators import OPERATOR_TOKEN, SYSTEM, Operator, check_token, create_key, token_hash
from controller.auth.roles import selector_within
from controller.services.errors import InvalidRequest, NotPermitted
from controller.services.names import check_host_name
from controller.store import FleetStore

_JOIN = re.compile(r"^([0-9a-f]{12})\.([A-Za-z0-9_-]{43})(?:\.([0-9a-f]{64}))?$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_labels(text: str) -> dict[str, str]:
    """Parse "k=v,k2=v2" into a dict; keys must be Prometheus-safe label names."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidRequest(f"label {item!r} is not key=value")
        labels[key.strip()] = value.strip()
    return check_labels(labels)


def check_labels(labels: Mapping[str, object]) -> dict[str, str]:
    """Labels as str -> str, with keys usable as Prometheus label names."""
    checked: dict[str, str] = {}
    for key, value in labels.items():
        if not _LABEL.match(key) or key.startswith("__"):
            raise InvalidRequest(f"label name {key!r} must match [A-Za-z_][A-Za-z0-9_.-]* and not start with __")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidRequest(f"label {key!r} must have a string value of at most 256 characters")
        checked[key] = value
    return checked


async def create_operator_token(store: FleetStore, purpose: str) -> str:
    """Create an admin key without expiry and return its token (see controller/auth/operators.py for roles)."""
    token, _view = await create_key(store, purpose, "admin")
    return token


async def authenticate_operator(store: FleetStore, token: str) -> str | None:
    """The key id of a valid (unexpired, unrevoked) operator token, else None."""
    match = OPERATOR_TOKEN.match(token)
    if not match:
        return None
    operator = await check_token(store, match.group(1), token_hash(match.group(2)))
    return operator.id if operator else None


async def create_join_token(
    store: FleetStore, labels: Mapping[str, str], ttl: float, ca_fingerprint: str, *, name: str = "",
    address: str = "", by: Operator = SYSTEM,
) -> str:
    """Create a single-use join token that expires after `ttl` seconds, optionally pinned to a name/address."""
    if ttl <= 0:
        raise InvalidRequest("a join token's ttl must be positive")
    if name:
        check_host_name(name, name="name")
    if address:
        check_host_name(address, name="address")
    if not selector_within(by.scope, labels):
        raise NotPermitted(f"key {by.id} is scoped; the join token's labels must include its scope labels")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    fields = {"secret_hash": _hash(secret), "labels": json.dumps(check_labels(labels)), "created_on": _now(),
              "pin_name": name, "pin_address": address, **by.attribution()}
    await store.add_join_token(token_id, fields, ttl)
    return f"{token_id}.{secret}.{ca_fingerprint}"


def split_join_token(token: str) -> tuple[str, str, str | None]:
    """(token id, secret, CA fingerprint or None) of a well-formed join token."""
    match = _JOIN.match(token.strip())
    if not match:
        raise NotPermitted("the join token is malformed; expected <id>.<secret>.<ca sha256> as printed")
    return match.group(1), match.group(2), match.group(3)


async def check_join_token(store: FleetStore, token: str, name: str = "", address: str = "") -> None:
    """Refuse, as consume_join_token would, a token that could not enroll `name` at `address`; use nothing up.

    Enrollment calls this before anything that depends on other agents (a name clash), so a caller without a
    valid token learns nothing about which names exist.
    """
    token_id, secret, _pin = split_join_token(token)
    fields = await store.join_token(token_id)
    if not fields or not secrets.compare_digest(fields.get("secret_hash", ""), _hash(secret)):
        raise NotPermitted(f"join token {token_id} is unknown or has expired; create a new one")
    for pin, value in (("name", name), ("address", address)):
        if fields.get(f"pin_{pin}") and fields[f"pin_{pin}"] != value:
            raise NotPermitted(f"join token {token_id} is pinned to another {pin}; it stays unused")
    if fields.get("used"):
        raise NotPermitted(f"join token {token_id} has already been used; create a new one")


async def consume_join_token(store: FleetStore, token: str, name: str = "", address: str = "") -> dict[str, str]:
    """Use up a join token and return its labels; refuse unknown, expired, used and pinned-elsewhere tokens."""
    token_id, secret, _pin = split_join_token(token)
    outcome, labels = await store.consume_join_token(token_id, _hash(secret), _now(), name, address)
    if outcome == "pinned":
        raise NotPermitted(f"join token {token_id} is pinned to another {labels}; it stays unused")
    if outcome == "used":
        raise NotPermitted(f"join token {token_id} has already been used; create a new one")
    if outcome != "ok":
        raise NotPermitted(f"join token {token_id} is unknown or has expired; create a new one")
    loaded = json.loads(labels or "{}")
    return {str(k): str(v) for k, v in loaded.items()}
