"""A bounded pool for token hashing: PBKDF2 gets its own threads so it cannot starve other I/O.

Each unknown token costs one PBKDF2 (~30 ms of CPU). In asyncio's default executor a flood of bad tokens
would queue ahead of config and file I/O; here at most `workers` threads hash, at most `queue` hashes wait
or run, and the rest are refused at once (HashPoolBusy, answered 503) instead of piling up.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from agent.security.tokens import hash_token

THREAD_PREFIX = "iisfleet-pbkdf2"


class HashPoolBusy(Exception):
    """Too many token hashes are already waiting."""


class HashPool:
    """hash_token in `workers` dedicated threads, with at most `queue` calls in flight."""

    def __init__(self, workers: int = 2, queue: int = 64) -> None:
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=THREAD_PREFIX)
        self._pending = 0

    @property
    def pending(self) -> int:
        """Hashes waiting or running now."""
        return self._pending

    async def hash(self, token: str) -> str | None:
        """The stored hash of `token` (None if malformed); raises HashPoolBusy when the queue is full."""
        if self._pending >= self.queue:
            raise HashPoolBusy(f"{self._pending} token checks are already queued")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, hash_token, token)
        finally:
            self._pending -= 1

    def close(self) -> None:
        """Stop the threads once queued work is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)


DEFAULT_POOL = HashPool()
"""The pool of key stores that were not given one (the CLI, tests)."""
