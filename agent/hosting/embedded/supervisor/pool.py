"""An application pool in the role of WAS: on-demand workers, web gardens, recycling, rapid-fail protection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from pathlib import Path

from agent.hosting.embedded.model import PoolSpec
from agent.hosting.embedded.supervisor.launch import Launcher
from agent.hosting.embedded.supervisor.worker_process import WorkerProcess, WorkerStartError, WorkerState
from agent.hosting.runtime_types import RuntimeStatus
from agent.hosting.runtime_version import TrackedStatus
from shared.asyncio_utils import create_task

log = logging.getLogger("iisfleet.hosting.pool")
_NUMBERS = itertools.count(1)
# psutil reads /proc/<pid>/smaps for private memory; that costs milliseconds, so check it at this pace.
MEMORY_CHECK_INTERVAL = 2.0


class PoolUnavailable(Exception):
    """The pool is stopped (or just got stopped by rapid-fail protection): HTTP.sys answers 503."""


class AppPool:
    """The runtime side of one application pool."""

    state = TrackedStatus[RuntimeStatus]()  # every change bumps the runtime version (API answer cache)

    def __init__(self, spec: PoolSpec, run_dir: Path, config_path: Path, launcher: Launcher | None = None) -> None:
        self.spec = spec
        self.launcher = launcher or Launcher(use_zygote=False)
        self.run_dir = run_dir
        self.config_path = config_path
        self.state = RuntimeStatus.STOPPED
        self.workers: list[WorkerProcess] = []
        self.retiring: list[WorkerProcess] = []
        self.crashes: deque[float] = deque()
        self.last_request = time.monotonic()
        self.requests_total = 0
        self.recycles = 0
        self.worker_starts = 0
        self.failures_total = 0  # crashes and failed starts since the agent started (never reset)
        self._spawning: asyncio.Task[WorkerProcess] | None = None
        self._memory_checked = 0.0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the pool; AlwaysRunning pools start their workers now."""
        self.state = RuntimeStatus.STARTED
        self.crashes.clear()
        self.last_request = time.monotonic()
        if self.spec.always_running:
            self._spawn_background()

    async def stop(self) -> None:
        """Stop the pool: new requests get 503, workers finish in-flight requests and exit."""
        self.state = RuntimeStatus.STOPPED
        workers, self.workers = self.workers, []
        await asyncio.gather(*(self._retire(w) for w in workers))
        await asyncio.gather(*(w.stop(self.spec.shutdown_time_limit) for w in list(self.retiring)))

    async def close(self) -> None:
        """Kill every worker by pid (agent shutdown)."""
        self.state = RuntimeStatus.STOPPED
        if self._spawning is not None:
            self._spawning.cancel()
            with contextlib.suppress(asyncio.CancelledError, WorkerStartError):
                await self._spawning
        workers = self.workers + self.retiring
        self.workers, self.retiring = [], []
        await asyncio.gather(*(w.stop(2.0) for w in workers))

    async def acquire(self) -> WorkerProcess:
        """A running worker with the request already counted on it; starts one on demand."""
        while True:
            if self.state != RuntimeStatus.STARTED:
                raise PoolUnavailable(self.spec.name)
            ready = [w for w in self.workers if w.state == WorkerState.RUNNING and w.upstream is not None]
            if ready:
                worker = min(ready, key=lambda w: w.active)
                if worker.active and len(self.workers) < self.spec.max_processes:
                    self._spawn_background()  # web garden: grow while every worker is busy
                worker.begin()
                self.requests_total += 1
                self.last_request = time.monotonic()
                return worker
            task = self._spawn_background()
            try:
                await asyncio.shield(task)
            except WorkerStartError as err:
                raise PoolUnavailable(self.spec.name) from err

    def can_grow(self) -> bool:
        """Whether the web garden has room for one more worker."""
        return self.state == RuntimeStatus.STARTED and len(self.workers) < self.spec.max_processes

    def grow(self) -> None:
        """Start one more worker while the web garden has room: a handoff found every worker holding
        connections (handed-off requests never pass through `acquire`, where relay load grows the garden)."""
        if self.can_grow():
            self._spawn_background()

    def _spawn_background(self) -> asyncio.Task[WorkerProcess]:
        if self._spawning is None or self._spawning.done():
            self._spawning = create_task(self._spawn(), name=f"spawn worker {self.spec.name}")
            # Retrieve a failure even when no request awaits it (AlwaysRunning, web-garden growth).
            self._spawning.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._spawning

    async def _spawn(self) -> WorkerProcess:
        worker = self._new_worker()
        try:
            await worker.spawn(self.spec.startup_time_limit)
        except (WorkerStartError, OSError) as err:
            self._record_crash(f"failed to start: {err}")
            raise WorkerStartError(str(err)) from err
        if self.state != RuntimeStatus.STARTED:
            await worker.stop(0)
            raise WorkerStartError("pool stopped while the worker started")
        self.workers.append(worker)
        create_task(self._watch(worker), name=f"watch worker {worker.pid}")
        return worker

    def _new_worker(self) -> WorkerProcess:
        number = next(_NUMBERS)
        self.worker_starts += 1
        return WorkerProcess(self.spec.name, number, self.run_dir / f"w{number}.sock", self.config_path, self.launcher)

    async def _watch(self, worker: WorkerProcess) -> None:
        code = await worker.wait_exit()
        if worker.stopping:
            return
        log.warning("worker pid %d of pool %r exited unexpectedly (code %s)", worker.pid, self.spec.name, code)
        if worker in self.workers:
            self.workers.remove(worker)
        await worker.kill()
        self._record_crash(f"worker pid {worker.pid} exited with code {code}")
        if self.state == RuntimeStatus.STARTED and self.spec.always_running:
            self._spawn_background()

    def _record_crash(self, why: str) -> None:
        self.failures_total += 1
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.spec.rapid_fail_interval:
            self.crashes.popleft()
        # IIS disables the pool when the count of failures in the interval reaches the maximum.
        if self.spec.rapid_fail and len(self.crashes) >= self.spec.rapid_fail_max_crashes:
            log.error(
                "application pool %r is being automatically disabled due to a series of failures (%s)",
                self.spec.name, why,
            )  # fmt: skip
            if self.state == RuntimeStatus.STARTED:
                self.state = RuntimeStatus.STOPPED
                create_task(self.stop(), name=f"rapid-fail stop {self.spec.name}")

    async def recycle(self, reason: str = "on demand") -> None:
        """Overlapped recycle: new workers take new requests, old ones drain and exit."""
        async with self._lock:
            old = [w for w in self.workers if w.state == WorkerState.RUNNING]
            if self.state != RuntimeStatus.STARTED or not old:
                return
            log.info("recycling application pool %r (%s)", self.spec.name, reason)
            fresh = self._new_worker()
            try:
                await fresh.spawn(self.spec.startup_time_limit)
            except WorkerStartError:
                self._record_crash("replacement worker failed to start")
                return
            self.recycles += 1
            self.workers = [fresh] + [w for w in self.workers if w not in old]
            create_task(self._watch(fresh), name=f"watch worker {fresh.pid}")
            for worker in old:
                create_task(self._retire(worker), name=f"retire worker {worker.pid}")

    async def _retire(self, worker: WorkerProcess) -> None:
        self.retiring.append(worker)
        try:
            await worker.stop(self.spec.shutdown_time_limit)
        finally:
            if worker in self.retiring:
                self.retiring.remove(worker)

    def update(self, spec: PoolSpec) -> bool:
        """Take new settings; True when IIS would recycle the pool for the change."""
        changed = spec != self.spec
        self.spec = spec
        return changed and not spec.disallow_rotation_on_config_change

    async def tick(self) -> None:
        """Periodic duties: idle timeout, periodic restart by time, requests and private memory."""
        if self.state != RuntimeStatus.STARTED or not self.workers:
            return
        now = time.monotonic()
        idle = all(w.active == 0 for w in self.workers)
        if idle and self.spec.idle_timeout > 0 and now - self.last_request >= self.spec.idle_timeout:
            log.info("application pool %r is idle: shutting down its workers", self.spec.name)
            workers, self.workers = self.workers, []
            await asyncio.gather(*(self._retire(w) for w in workers))
            return
        reason = "" if self._lock.locked() else self._restart_reason(now)
        if reason:
            create_task(self.recycle(reason), name=f"recycle {self.spec.name}")

    def _restart_reason(self, now: float) -> str:
        spec = self.spec
        for worker in self.workers:
            if spec.recycle_time > 0 and now - worker.started_mono >= spec.recycle_time:
                return "periodic restart: time"
            if spec.recycle_requests > 0 and worker.requests_total >= spec.recycle_requests:
                return "periodic restart: requests"
        if spec.recycle_private_memory_kb > 0 and now - self._memory_checked >= MEMORY_CHECK_INTERVAL:
            import psutil  # only pools with a private-memory limit need it (~0.9 MiB resident)

            self._memory_checked = now
            for worker in self.workers:
                with contextlib.suppress(psutil.Error):
                    private = psutil.Process(worker.pid).memory_full_info().uss
                    if private > spec.recycle_private_memory_kb * 1024:
                        return "periodic restart: private memory"
        return ""
