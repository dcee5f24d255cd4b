"""One event loop and one WorkerEnv per worker process, shared by every task thread.

Building the environment (CA, TLS context, Redis client, two aiohttp sessions, SecretBox) costs milliseconds
of CPU and a TLS handshake per agent; paying it once per process is what keeps a step's own cost small. The
Celery threads hand their coroutines to a long-lived loop in a daemon thread, so the agent connections (one
keep-alive pool per agent) and the Redis pool survive from task to task.

The environment is rebuilt after ENV_MAX_AGE so a renewed controller certificate is picked up; the old one
closes once the tasks that use it have finished.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from controller.services.steps import WorkerEnv, close_worker_env, open_worker_env
from controller.settings import ControllerSettings

_T = TypeVar("_T")
ENV_MAX_AGE = 3600.0


class _Slot:
    """An environment and how many running coroutines use it."""

    def __init__(self, env: WorkerEnv) -> None:
        self.env = env
        self.users = 0
        self.born = time.monotonic()
        self.retired = False


class WorkerRuntime:
    """Runs task coroutines on the process's shared loop with the process's shared WorkerEnv."""

    def __init__(self, settings: ControllerSettings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slot: _Slot | None = None
        self._opening: asyncio.Lock | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="iisfleet-worker-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, work: Callable[[WorkerEnv], Awaitable[_T]]) -> _T:
        """Run `work(env)` on the shared loop and wait for its result (called from a task's thread)."""
        future = asyncio.run_coroutine_threadsafe(self._with_env(work), self._ensure_loop())
        return future.result()

    async def _with_env(self, work: Callable[[WorkerEnv], Awaitable[_T]]) -> _T:
        slot = await self._current()
        slot.users += 1
        try:
            return await work(slot.env)
        finally:
            slot.users -= 1
            if slot.retired and slot.users == 0:
                await close_worker_env(slot.env)

    async def _current(self) -> _Slot:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            slot = self._slot
            if slot is not None and time.monotonic() - slot.born > ENV_MAX_AGE:
                slot.retired = True
                if slot.users == 0:
                    await close_worker_env(slot.env)
                slot = None
            if slot is None:
                slot = self._slot = _Slot(await open_worker_env(self.settings, self.redis_url))
            return slot

    def close(self) -> None:
        """Close the environment and stop the loop (worker shutdown, tests)."""
        with self._guard:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        slot, self._slot = self._slot, None
        if slot is not None:
            asyncio.run_coroutine_threadsafe(close_worker_env(slot.env), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
