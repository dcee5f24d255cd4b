"""Per-address limit on failed token checks, and the authentication step that applies it.

After `limit` failed checks within `window` seconds an address is throttled: until its oldest counted
failure leaves the window it gets 429 for any token that is not already in the key store's cache of
recently verified tokens. Throttled requests cost no PBKDF2, a busy controller whose token is cached keeps
working behind a NAT shared with an attacker, and other addresses are not affected at all.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from aiohttp import web

from agent.security.hashing import HashPoolBusy
from agent.security.keys import KEY_STORE
from agent.security.keystore import ApiKey
from shared.errors import ServiceUnavailable, TooManyRequests

MAX_ADDRESSES = 10_000
"""Addresses tracked at once; beyond that the stalest are forgotten (memory stays bounded)."""

log = logging.getLogger("iisfleet.agent.security")


class AuthThrottle:
    """Sliding-window counts of failed token checks per client address."""

    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def blocked(self, address: str) -> float | None:
        """Seconds until `address` may try new tokens again, or None when it is not throttled."""
        now = time.monotonic()
        failures = self._recent(address, now)
        if failures is None or len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def failed(self, address: str) -> None:
        """Count one failed check from `address`."""
        now = time.monotonic()
        failures = self._recent(address, now)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._forget_stalest()
            failures = self._failures[address] = deque(maxlen=self.limit)
        failures.append(now)

    def _forget_stalest(self) -> None:
        stalest = min(self._failures, key=lambda address: self._failures[address][-1])
        del self._failures[stalest]


THROTTLE = web.AppKey("iisfleet.security.throttle", AuthThrottle)


async def authenticate(request: web.Request, token: str) -> ApiKey | None:
    """The key of `token`, counting a failure against the caller's address; 429/503 when overloaded."""
    store = request.app[KEY_STORE]
    throttle = request.app.get(THROTTLE)
    address = request.remote or ""
    retry_after = throttle.blocked(address) if throttle is not None else None
    if retry_after is not None:
        key = store.cached(token)
        if key is None:
            log.warning("throttled %s %s from %s: too many failed token checks", request.method, request.path, address)
            raise TooManyRequests(retry_after)
        return key
    try:
        key = await store.averify(token)
    except HashPoolBusy as err:
        log.warning("refused %s %s from %s: %s", request.method, request.path, address, err)
        raise ServiceUnavailable(detail="Too many token checks in progress; retry shortly.") from err
    if key is None and throttle is not None:
        throttle.failed(address)
    return key
