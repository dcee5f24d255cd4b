"""Per-site runtime state in the supervisor: status, limits, counters, bandwidth throttle, app matching."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.hosting.embedded.model import AppSpec, SiteSpec
from agent.hosting.embedded.supervisor.w3c import SiteLog
from agent.hosting.embedded.urlmap import match_app
from agent.hosting.runtime_types import RuntimeStatus
from agent.hosting.runtime_version import TrackedStatus

UNLIMITED = 4294967295
_REQUEST_IDS = itertools.count(1)


class Throttle:
    """maxBandwidth: a shared virtual clock that spaces a site's writes to `rate` bytes per second."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._next = 0.0

    async def consume(self, size: int) -> None:
        """Wait until `size` more bytes fit in the site's bandwidth."""
        if self.rate >= UNLIMITED or self.rate <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + size / self.rate
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(slots=True)
class InFlight:
    """A request being served."""

    id: int
    method: str
    url: str
    host: str
    client: str
    site: str
    pool: str
    started: float
    stage: str = "BeginRequest"
    worker_pid: int = 0


def new_request_id() -> int:
    """A process-wide request sequence number."""
    return next(_REQUEST_IDS)


@dataclass(slots=True)
class Counters:
    """Traffic counters that only ever grow (except the `current`/`active` gauges)."""

    requests_total: int = 0
    requests_active: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    connections_current: int = 0
    connections_total: int = 0
    connection_attempts_refused: int = 0
    cache_hits: int = 0  # requests answered from the kernel response cache
    cache_misses: int = 0  # every other request (requests_total = cache_hits + cache_misses while it is on)
    status_counts: dict[int, int] = field(default_factory=dict)
    method_counts: dict[str, int] = field(default_factory=dict)  # only COUNTED_METHODS: bounded keys



class SiteRuntime:
    """A configured site: its spec, its state and its counters."""

    state = TrackedStatus[RuntimeStatus]()  # every change bumps the runtime version (API answer cache)

    def __init__(self, spec: SiteSpec, state_dir: Path) -> None:
        self.spec = spec
        self.state = RuntimeStatus.STOPPED
        self.error = ""
        self.counters = Counters()
        self.throttle = Throttle(spec.max_bandwidth)
        self.log = SiteLog(spec, state_dir)
        self.started_at = 0.0

    def update(self, spec: SiteSpec, state_dir: Path) -> None:
        """Take new settings (bindings are rebound by the caller)."""
        if spec.log != self.spec.log or spec.id != self.spec.id:
            self.log.flush()
            self.log.close()
            self.log = SiteLog(spec, state_dir)
        if spec.max_bandwidth != self.spec.max_bandwidth:
            self.throttle = Throttle(spec.max_bandwidth)
        self.spec = spec

    def match_app(self, path: str) -> AppSpec | None:
        """The application that serves `path` (longest application path)."""
        return match_app(self.spec.apps, path)

    def count_status(self, status: int) -> None:
        """Count a response status."""
        self.counters.status_counts[status] = self.counters.status_counts.get(status, 0) + 1
