"""Access-token format and hashing, exactly as upstream (reference 9.7).

A token is base64url (no padding) of 40 random bytes: an 8-byte salt followed by a 32-byte secret.
Its stored hash is base64url(PBKDF2-HMAC-SHA1(secret, salt, 100 000 iterations, 32 bytes)).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

SALT_BYTES = 8
SECRET_BYTES = 32
ITERATIONS = 100_000
HASH_BYTES = 32
TOKEN_TYPE = "SWT"
TOKEN_LENGTH = 54

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{54}")


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url; raises ValueError on bad input."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def new_token() -> str:
    """A fresh random token (54 characters)."""
    return b64url(secrets.token_bytes(SALT_BYTES + SECRET_BYTES))


def new_key_id() -> str:
    """A 22-character random base64url id, like upstream's key ids."""
    return b64url(secrets.token_bytes(16))


def hash_token(token: str) -> str | None:
    """The stored hash of a token, or None if the token is malformed. Costs one PBKDF2 (~30 ms)."""
    token = token.strip()
    if not _TOKEN_RE.fullmatch(token):
        return None
    try:
        raw = b64url_decode(token)
    except ValueError:
        return None
    if len(raw) != SALT_BYTES + SECRET_BYTES:
        return None
    salt, secret = raw[:SALT_BYTES], raw[SALT_BYTES:]
    return b64url(hashlib.pbkdf2_hmac("sha1", secret, salt, ITERATIONS, HASH_BYTES))


def secret_part(token: str) -> str:
    """The base64url of the 32-byte secret inside a token (tests check it is never stored)."""
    return b64url(b64url_decode(token)[SALT_BYTES:])


def fingerprint(token: str) -> str:
    """A cheap one-way cache key for a token; never the token itself."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
