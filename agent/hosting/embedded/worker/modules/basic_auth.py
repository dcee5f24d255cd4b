"""BasicAuthenticationModule: security/authentication/basicAuthentication against the host's accounts (PAM).

An `Authorization: Basic` header is checked through PAM (pamela, service "login": the Linux counterpart of a
Windows logon). Valid → the user name goes to ctx.user for UrlAuthorization and cs-username; invalid → 401.1.
Every 401 leaving a path where Basic is enabled carries `WWW-Authenticate: Basic realm="..."` (realm, else the
Host header, as IIS). A DOMAIN\\ prefix is dropped (defaultLogonDomain has no Linux meaning). Where PAM is not
available (no libpam, or the agent is not root so pam_unix can only check the agent's own account), every
Basic logon fails with 401.1 and a warning is logged: refusing is the safe fallback.
Successful logons are remembered for TOKEN_TTL seconds (IIS's TokenCacheModule), keyed by a salted hash.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/security/authentication/basicAuthentication"
PAM_SERVICE = "login"
TOKEN_TTL = 60.0
TOKEN_CACHE_LIMIT = 1024
log = logging.getLogger("iisfleet.hosting.modules")


@dataclass(frozen=True, slots=True)
class BasicSettings:
    """An enabled Basic scheme at a path (None in the cache when disabled)."""

    realm: str


def load(section: Any) -> BasicSettings | None:
    """The realm when Basic is enabled at the path."""
    return BasicSettings(str(section.get("realm") or "")) if section.get("enabled") else None


def credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an Authorization header value, None when it is not valid Basic."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user.rpartition("\\")[2], password


def pam_check(user: str, password: str) -> bool:
    """Whether PAM accepts the account and password (blocking: run in a thread)."""
    try:
        import pamela
    except (ImportError, OSError):
        log.warning("Basic authentication: PAM is not available on this host; every Basic logon fails")
        return False
    try:
        pamela.authenticate(user, password, service=PAM_SERVICE)
        pamela.check_account(user, service=PAM_SERVICE)
    except pamela.PAMError:
        return False
    return True


class BasicAuthenticationModule:
    """Authenticates Basic credentials and challenges 401 responses."""

    def __init__(self) -> None:
        self._salt = os.urandom(16)
        self._tokens: dict[bytes, float] = {}

    def idle(self, ctx: HttpContext) -> bool:
        """Basic is disabled at the path."""
        return ctx.settings(SECTION, load) is None

    async def authenticate_request(self, ctx: HttpContext) -> None:
        """Log the caller on when it sent Basic credentials; bad credentials → 401.1."""
        if ctx.user or ctx.settings(SECTION, load) is None:
            return
        header = ctx.request.headers.get("Authorization")
        if header is None or not header.lower().startswith("basic"):
            return
        found = credentials(header)
        if found is None or not await self._valid(*found):
            return ctx.error(401, 1)
        ctx.user = found[0]
        return None

    async def _valid(self, user: str, password: str) -> bool:
        import hashlib  # here: it maps libcrypto, which workers without Basic logons do not need

        key = hashlib.sha256(self._salt + user.encode() + b"\0" + password.encode()).digest()
        now = time.monotonic()
        if self._tokens.get(key, 0.0) > now:
            return True
        if not await asyncio.to_thread(pam_check, user, password):
            return False
        if len(self._tokens) >= TOKEN_CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[key] = now + TOKEN_TTL
        return True

    def send_response(self, ctx: HttpContext) -> None:
        """Challenge every 401 where Basic is enabled."""
        response = ctx.response
        if response is None or response.status != 401:
            return
        settings = ctx.settings(SECTION, load)
        if settings is None:
            return
        realm = settings.realm or ctx.request.host.partition(":")[0]
        response.headers["WWW-Authenticate"] = 'Basic realm="{}"'.format(realm.replace('"', ""))
