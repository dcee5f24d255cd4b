"""The supervisor's live counters copied into the hosting layer's snapshot types (see runtime_types.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from agent.hosting.embedded.supervisor.pool import AppPool
from agent.hosting.embedded.supervisor.response_cache import ResponseCache
from agent.hosting.embedded.supervisor.sites import InFlight, SiteRuntime
from agent.hosting.runtime_types import (
    CacheSnapshot,
    HostSnapshot,
    PoolSnapshot,
    RequestSnapshot,
    RuntimeStatus,
    SiteSnapshot,
    WorkerSnapshot,
)


def take_snapshot(server_state: RuntimeStatus, sites: Iterable[SiteRuntime], pools: Iterable[AppPool],
                  inflight: Iterable[InFlight], rc: ResponseCache) -> HostSnapshot:  # fmt: skip
    """Copy the supervisor's live counters into immutable snapshots."""
    now = time.time()
    by_pid: dict[int, list[RequestSnapshot]] = {}
    for r in list(inflight):
        by_pid.setdefault(r.worker_pid, []).append(RequestSnapshot(
            id=r.id, method=r.method, url=r.url, host=r.host, client=r.client, site=r.site, pool=r.pool,
            worker_pid=r.worker_pid, elapsed_ms=int((now - r.started) * 1000), stage=r.stage,
        ))  # fmt: skip
    site_snaps: dict[str, SiteSnapshot] = {}
    for site in sites:
        c = site.counters
        site_snaps[site.spec.name] = SiteSnapshot(
            name=site.spec.name, id=site.spec.id, state=site.state, error=site.error,
            requests_total=c.requests_total, requests_active=c.requests_active, bytes_sent=c.bytes_sent,
            bytes_received=c.bytes_received, connections_current=c.connections_current,
            connections_total=c.connections_total, connections_refused=c.connection_attempts_refused,
            status_counts=dict(c.status_counts), cache_hits=c.cache_hits, cache_misses=c.cache_misses,
            method_counts=dict(c.method_counts),
        )  # fmt: skip
    pool_snaps: dict[str, PoolSnapshot] = {}
    for pool in pools:
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
        pool_snaps[pool.spec.name] = PoolSnapshot(
            name=pool.spec.name, state=pool.state, requests_total=pool.requests_total, recycles=pool.recycles,
            worker_starts=pool.worker_starts, failures_total=pool.failures_total,
            recent_crashes=len(pool.crashes), workers=workers,
        )  # fmt: skip
    cache = CacheSnapshot(
        enabled=rc.enabled, hits=rc.hits, misses=rc.misses, items=len(rc.entries), bytes=rc.bytes,
        items_added=rc.items_added, items_flushed=rc.items_flushed, flushes=rc.flushes,
    )  # fmt: skip
    return HostSnapshot(server_state=server_state, taken_at=now, sites=site_snaps, pools=pool_snaps, cache=cache)
