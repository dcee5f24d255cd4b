"""Typed runtime snapshots for the monitoring APIs (sites, pools, workers, in-flight requests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.hosting.base import RuntimeStatus

if TYPE_CHECKING:
    from agent.hosting.embedded.host import EmbeddedHost


# The verbs IIS's Web Service counters count one by one (`Total Get Requests`, ...): SiteSnapshot.method_counts
# holds only these, and every other method is "other" (requests_total minus these).
COUNTED_METHODS = frozenset(
    ("COPY", "DELETE", "GET", "HEAD", "LOCK", "MKCOL", "MOVE", "OPTIONS", "POST", "PROPFIND", "PROPPATCH", "PUT",
     "SEARCH", "TRACE", "UNLOCK")
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSnapshot:
    """A request in flight."""

    id: int
    method: str
    url: str
    host: str
    client: str
    site: str
    pool: str
    worker_pid: int
    elapsed_ms: int
    stage: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSnapshot:
    """One worker process."""

    pid: int
    pool: str
    state: str
    started_at: float
    requests_total: int
    requests_active: int
    requests: tuple[RequestSnapshot, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSnapshot:
    """One application pool."""

    name: str
    state: RuntimeStatus
    requests_total: int
    recycles: int
    recent_crashes: int
    worker_starts: int
    workers: tuple[WorkerSnapshot, ...]
    failures_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSnapshot:
    """One site's state and traffic counters."""

    name: str
    id: int
    state: RuntimeStatus
    error: str
    requests_total: int
    requests_active: int
    bytes_sent: int
    bytes_received: int
    connections_current: int
    connections_total: int
    connections_refused: int
    status_counts: dict[int, int]
    cache_hits: int = 0
    cache_misses: int = 0
    method_counts: dict[str, int] = field(default_factory=dict)
    """Requests per verb IIS counts separately (GET, POST, ...); the rest of requests_total is "other"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSnapshot:
    """The kernel response cache (HTTP.sys's "Kernel: URI cache" counters)."""

    enabled: bool = False
    hits: int = 0
    misses: int = 0
    items: int = 0
    bytes: int = 0
    items_added: int = 0
    items_flushed: int = 0
    flushes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSnapshot:
    """Everything the embedded host runs, at one instant."""

    server_state: RuntimeStatus
    taken_at: float
    sites: dict[str, SiteSnapshot]
    pools: dict[str, PoolSnapshot]
    cache: CacheSnapshot = CacheSnapshot()


def take_snapshot(host: EmbeddedHost) -> HostSnapshot:
    """Copy the host's live counters into immutable snapshots."""
    now = time.time()
    by_pid: dict[int, list[RequestSnapshot]] = {}
    for r in list(host.inflight.values()):
        by_pid.setdefault(r.worker_pid, []).append(RequestSnapshot(
            id=r.id, method=r.method, url=r.url, host=r.host, client=r.client, site=r.site, pool=r.pool,
            worker_pid=r.worker_pid, elapsed_ms=int((now - r.started) * 1000), stage=r.stage,
        ))  # fmt: skip
    sites = {}
    for site in host.sites.values():
        c = site.counters
        sites[site.spec.name] = SiteSnapshot(
            name=site.spec.name, id=site.spec.id, state=site.state, error=site.error,
            requests_total=c.requests_total, requests_active=c.requests_active, bytes_sent=c.bytes_sent,
            bytes_received=c.bytes_received, connections_current=c.connections_current,
            connections_total=c.connections_total, connections_refused=c.connection_attempts_refused,
            status_counts=dict(c.status_counts), cache_hits=c.cache_hits, cache_misses=c.cache_misses,
            method_counts=dict(c.method_counts),
        )  # fmt: skip
    pools = {}
    for pool in host.pools.values():
        workers = tuple(
            WorkerSnapshot(
                pid=w.pid,
                pool=pool.spec.name,
                state=str(w.state),
                started_at=w.started_at,
                requests_total=w.requests_total,
                requests_active=w.active,
                requests=tuple(by_pid.get(w.pid, ())),
            )  # fmt: skip
            for w in pool.workers + pool.retiring
        )
        pools[pool.spec.name] = PoolSnapshot(
            name=pool.spec.name, state=pool.state, requests_total=pool.requests_total, recycles=pool.recycles,
            worker_starts=pool.worker_starts, failures_total=pool.failures_total,
            recent_crashes=len(pool.crashes), workers=workers,
        )  # fmt: skip
    rc = host.cache
    cache = CacheSnapshot(
        enabled=rc.enabled, hits=rc.hits, misses=rc.misses, items=len(rc.entries), bytes=rc.bytes,
        items_added=rc.items_added, items_flushed=rc.items_flushed, flushes=rc.flushes,
    )  # fmt: skip
    return HostSnapshot(server_state=host.server_state, taken_at=now, sites=sites, pools=pools, cache=cache)
