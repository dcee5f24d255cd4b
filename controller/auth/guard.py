"""AuthGuard: per-address limits on failed authentications, brief caches, and hashing off the event loop.

An address with `max_failures` failures inside `window` seconds is answered 429 without any token check,
except for tokens this process verified recently (so an operator behind a shared address keeps working while
a script next to it guesses). A token that failed is remembered for `negative_ttl` seconds and refused
without Redis or hashing. Hashes run in a small thread pool behind a semaphore, so a flood of guesses
queues there instead of on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.auth.errors import TokenRefused
from controller.auth.operators import OPERATOR_TOKEN, Operator, check_token, token_hash
from controller.store import FleetStore
from shared.errors import TooManyRequests


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardLimits:
    """The knobs of the guard (ControllerSettings carries them)."""

    max_failures: int = 20
    window: float = 60.0
    negative_ttl: float = 30.0
    good_ttl: float = 300.0
    hash_workers: int = 2
    max_entries: int = 10_000


class _Expiring:
    """A bounded map of key -> expiry time (oldest entries fall out first)."""

    def __init__(self, max_entries: int) -> None:
        self._items: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    def add(self, key: str, until: float) -> None:
        self._items[key] = until
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        until = self._items.get(str(key))
        if until is None:
            return False
        if until <= time.monotonic():
            del self._items[str(key)]
            return False
        return True

    def discard(self, key: str) -> None:
        self._items.pop(key, None)


class AuthGuard:
    """One per controller process."""

    def __init__(self, limits: GuardLimits | None = None) -> None:
        self.limits = limits or GuardLimits()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._bad = _Expiring(self.limits.max_entries)
        self._good = _Expiring(self.limits.max_entries)
        self._executor = ThreadPoolExecutor(max_workers=self.limits.hash_workers, thread_name_prefix="token-hash")
        self._slots = asyncio.Semaphore(self.limits.hash_workers * 4)

    def close(self) -> None:
        """Stop the hashing threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def retry_after(self, address: str) -> float:
        """Seconds until `address` may try again (0 when it is not throttled)."""
        stamps = self._failures.get(address)
        if not stamps:
            return 0.0
        cutoff = time.monotonic() - self.limits.window
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()
        if len(stamps) < self.limits.max_failures:
            return 0.0
        return stamps[0] + self.limits.window - time.monotonic()

    def _failed(self, address: str, token: str | None) -> None:
        stamps = self._failures.setdefault(address, deque(maxlen=self.limits.max_failures))
        stamps.append(time.monotonic())
        self._failures.move_to_end(address)
        while len(self._failures) > self.limits.max_entries:
            self._failures.popitem(last=False)
        if token:
            self._bad.add(token, time.monotonic() + self.limits.negative_ttl)
            self._good.discard(token)

    async def _hash(self, secret: str) -> str:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._executor, token_hash, secret)

    async def authenticate(self, store: FleetStore, token: str | None, address: str) -> Operator:
        """The operator of a valid token; TokenRefused (401) or TooManyRequests (429) otherwise."""
        wait = self.retry_after(address)
        if wait > 0 and (not token or token not in self._good):
            raise TooManyRequests(wait)
        if not token:
            raise TokenRefused()  # costs nothing to refuse, and guesses nothing: not counted
        match = OPERATOR_TOKEN.match(token)
        if not match or token in self._bad:
            self._failed(address, token)
            raise TokenRefused()
        operator = await check_token(store, match.group(1), await self._hash(match.group(2)))
        if operator is None:
            self._failed(address, token)
            raise TokenRefused()
        self._good.add(token, time.monotonic() + self.limits.good_ttl)
        return operator
