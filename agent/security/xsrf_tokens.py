"""Stateless XSRF token pairs (reference 9.6): an HMAC'd cookie token and a request token bound to an identity.

cookie token  = nonce "." mac(secret, "cookie:" nonce)
request token = mac(secret, "request:" cookie token ":" identity)
No server-side session state: a pair validates on any agent process that shares the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from agent.security.tokens import b64url
from shared.fsutil import atomic_write_bytes

SECRET_BYTES = 32


class XsrfProtector:
    """Makes and checks XSRF token pairs with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the XSRF secret is too short")
        self._secret = secret

    def _mac(self, text: str) -> str:
        return b64url(hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).digest()[:24])

    def new_cookie_token(self) -> str:
        """A fresh cookie token."""
        nonce = b64url(secrets.token_bytes(18))
        return f"{nonce}.{self._mac('cookie:' + nonce)}"

    def cookie_valid(self, cookie: str | None) -> bool:
        """True when the cookie token was made with our secret."""
        if not cookie or cookie.count(".") != 1:
            return False
        nonce, mac = cookie.split(".")
        return hmac.compare_digest(mac, self._mac("cookie:" + nonce))

    def request_token(self, cookie: str, identity: str) -> str:
        """The header token that pairs with `cookie` for `identity`."""
        return self._mac(f"request:{cookie}:{identity}")

    def pair_valid(self, cookie: str | None, header: str | None, identity: str) -> bool:
        """True when cookie and header form a pair issued to `identity`."""
        if not header or not cookie or not self.cookie_valid(cookie):
            return False
        return hmac.compare_digest(header.strip(), self.request_token(cookie, identity))


def load_or_create_secret(path: Path) -> bytes:
    """The persisted XSRF secret (mode 0600), made on first use so pairs survive restarts."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    if len(data) >= SECRET_BYTES:
        return data
    data = secrets.token_bytes(SECRET_BYTES)
    atomic_write_bytes(path, data, mode=0o600)
    return data
