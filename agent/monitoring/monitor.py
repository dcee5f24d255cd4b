"""Monitor: pairs of samples a second or more apart, from which every per-second value is computed.

Upstream reads Windows performance counters, whose rates PDH computes between two samples, re-sampling a
counter set at most once per second. The Monitor does the same for the whole host: it keeps the previous
sample, takes a new one when the last is at least MIN_INTERVAL old, and otherwise answers with the cached
pair. The very first call samples a short window (FIRST_WINDOW) so its rates are real, not zeros.
Totals and gauges are read live by the callers; only rates and process statistics come from the pair.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from dataclasses import dataclass, field

from agent.hosting.base import Host
from agent.hosting.runtime_types import HostSnapshot, RuntimeStatus
from agent.monitoring.processes import ProcessStats, read_processes

MIN_INTERVAL = 1.0
FIRST_WINDOW = 0.25


@dataclass(frozen=True, slots=True)
class Sample:
    """The host snapshot and its workers' process statistics at one instant."""

    taken: float
    """time.monotonic() of the sample."""
    snap: HostSnapshot
    procs: dict[int, ProcessStats]
    cpu_busy: float
    """Seconds all CPUs spent not idle since boot (for the system CPU percentage)."""
    cpu_total: float
    memory_installed: int
    memory_available: int


@dataclass(slots=True)
class Pair:
    """Two samples: rates are (current - previous) / elapsed."""

    prev: Sample
    cur: Sample

    @property
    def elapsed(self) -> float:
        """Seconds between the samples (never zero)."""
        return max(self.cur.taken - self.prev.taken, 1e-6)

    def rate(self, before: float, after: float) -> int:
        """A per-second rate, 0 when a counter went backwards (a site or worker was replaced)."""
        return max(0, round((after - before) / self.elapsed))


@dataclass(slots=True)
class Monitor:
    """Per-host sampling state (rates, site uptimes, CPU seconds of exited workers)."""

    host: Host
    agent_started: float = field(default_factory=lambda: _process_started(os.getpid()))
    site_since: dict[str, float] = field(default_factory=dict)
    ledger: CpuLedger = field(default_factory=lambda: CpuLedger())
    _pair: Pair | None = None
    _looked: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def pair(self) -> Pair | None:
        """The current sample pair, re-sampled at most once per MIN_INTERVAL; None without runtime state."""
        async with self._lock:
            last = self._pair
            if last is not None and time.monotonic() - last.cur.taken < MIN_INTERVAL:
                return last
            new = await self._take()
            if new is None:
                return None
            if last is None:
                await asyncio.sleep(FIRST_WINDOW)
                first, new = new, await self._take()
                if new is None:
                    return None
                self._pair = Pair(first, new)
            else:
                self._pair = Pair(last.cur, new)
            return self._pair

    async def _take(self) -> Sample | None:
        snap = self.host.snapshot()  # on the loop: it copies the host's live dictionaries
        if snap is None:
            return None
        self._track_uptime(snap)
        pids = [w.pid for pool in snap.pools.values() for w in pool.workers if w.pid]
        procs, (busy, total), (installed, available) = await asyncio.to_thread(_read_system, pids)
        return Sample(time.monotonic(), snap, procs, busy, total, installed, available)

    def _track_uptime(self, snap: HostSnapshot) -> None:
        # The host does not record when a site started; the first look counts sites as up since the agent
        # started (auto-start sites start with it), later transitions from when they are seen.
        first_look, self._looked = not self._looked, True
        now = time.time()
        for name, site in snap.sites.items():
            if site.state == RuntimeStatus.STARTED:
                self.site_since.setdefault(name, self.agent_started if first_look else now)
            else:
                self.site_since.pop(name, None)

    def uptime(self, site: str) -> int:
        """Seconds since the site was (seen) started; 0 when stopped."""
        since = self.site_since.get(site)
        return int(time.time() - since) if since is not None else 0


def _process_started(pid: int) -> float:
    import psutil  # on first use: ~0.9 MiB resident that an agent nobody monitors does without

    return float(psutil.Process(pid).create_time())


def _read_system(pids: list[int]) -> tuple[dict[int, ProcessStats], tuple[float, float], tuple[int, int]]:
    import psutil  # on first use: ~0.9 MiB resident that an agent nobody monitors does without

    times = psutil.cpu_times()
    total = float(sum(times))
    busy = total - times.idle - float(getattr(times, "iowait", 0.0))
    memory = psutil.virtual_memory()
    return read_processes(pids), (busy, total), (int(memory.total), int(memory.available))


_MONITORS: weakref.WeakKeyDictionary[Host, Monitor] = weakref.WeakKeyDictionary()


def monitor_for(host: Host) -> Monitor:
    """The Monitor of a host (one per host object, for as long as the host lives)."""
    monitor = _MONITORS.get(host)
    if monitor is None:
        monitor = _MONITORS[host] = Monitor(host)
    return monitor


@dataclass(slots=True)
class CpuLedger:
    """CPU seconds per pool that stay monotonic across recycles: exited workers' last reading is kept."""

    seen: dict[tuple[str, int], float] = field(default_factory=dict)
    retired: dict[str, float] = field(default_factory=dict)

    def update(self, current: dict[tuple[str, int], float]) -> dict[str, float]:
        """Fold in the live workers' CPU seconds; the per-pool totals including exited workers."""
        for key, seconds in self.seen.items():
            if key not in current:
                self.retired[key[0]] = self.retired.get(key[0], 0.0) + seconds
        self.seen = dict(current)
        totals = dict(self.retired)
        for (pool, _pid), seconds in current.items():
            totals[pool] = totals.get(pool, 0.0) + seconds
        return totals
