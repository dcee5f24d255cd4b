"""Upstream's monitoring snapshot members (section 7) from a sample pair and a live host snapshot.

Rates come from the pair (see monitor.py); totals, active requests and current connections from the live
snapshot so that a client counting its own requests sees them at once. The web server's `cache` members
report the supervisor's kernel response cache (HTTP.sys's "Kernel: URI cache"): see `cache`. Site and pool
snapshots read IIS's per-worker (W3SVC_W3WP) cache counters, and workers cache nothing, so theirs are 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.hosting.runtime_types import CacheSnapshot, HostSnapshot, RuntimeStatus
from agent.monitoring.monitor import Pair, Sample
from agent.monitoring.processes import ProcessStats

CACHE_MEMBERS = (
    "file_cache_count", "file_cache_memory_usage", "file_cache_hits", "file_cache_misses", "total_files_cached",
    "output_cache_count", "output_cache_memory_usage", "output_cache_hits", "output_cache_misses",
    "uri_cache_count", "uri_cache_hits", "uri_cache_misses", "total_uris_cached",
)  # fmt: skip
EMPTY = HostSnapshot(server_state=RuntimeStatus.UNKNOWN, taken_at=0.0, sites={}, pools={})


@dataclass(frozen=True, slots=True)
class Traffic:
    """Site counters summed over some sites."""

    requests: int = 0
    active: int = 0
    sent: int = 0
    received: int = 0
    attempts: int = 0
    connections: int = 0


def traffic(snap: HostSnapshot, sites: Iterable[str] | None = None) -> Traffic:
    """Sum the counters of `sites` (every site when None)."""
    chosen = snap.sites.values() if sites is None else [snap.sites[s] for s in sites if s in snap.sites]
    return Traffic(
        requests=sum(s.requests_total for s in chosen), active=sum(s.requests_active for s in chosen),
        sent=sum(s.bytes_sent for s in chosen), received=sum(s.bytes_received for s in chosen),
        # IIS counts every connection attempt, including those refused by maxConnections.
        attempts=sum(s.connections_total + s.connections_refused for s in chosen),
        connections=sum(s.connections_current for s in chosen),
    )  # fmt: skip


def network(pair: Pair | None, live: HostSnapshot, sites: Iterable[str] | None = None) -> dict[str, int]:
    """The 7 `network` members."""
    names = None if sites is None else list(sites)
    now = traffic(live, names)
    prev = traffic(pair.prev.snap, names) if pair else Traffic()
    cur = traffic(pair.cur.snap, names) if pair else Traffic()
    rate = pair.rate if pair else (lambda a, b: 0)
    return {
        "bytes_sent_sec": rate(prev.sent, cur.sent), "bytes_recv_sec": rate(prev.received, cur.received),
        "connection_attempts_sec": rate(prev.attempts, cur.attempts), "total_bytes_sent": now.sent,
        "total_bytes_recv": now.received, "total_connection_attempts": now.attempts,
        "current_connections": now.connections,
    }  # fmt: skip


def requests(active: int, per_sec: int, total: int) -> dict[str, int]:
    """The 3 `requests` members."""
    return {"active": active, "per_sec": per_sec, "total": total}


def site_requests(pair: Pair | None, live: HostSnapshot, sites: Iterable[str] | None = None) -> dict[str, int]:
    """`requests` of some sites (all when None) from their own counters."""
    names = None if sites is None else list(sites)
    now = traffic(live, names)
    per_sec = pair.rate(traffic(pair.prev.snap, names).requests, traffic(pair.cur.snap, names).requests) if pair else 0
    return requests(now.active, per_sec, now.requests)


def pool_requests(pair: Pair | None, live: HostSnapshot, pool: str) -> dict[str, int]:
    """`requests` of a pool: its own total (which survives recycles) and its workers' active requests."""
    snap = live.pools.get(pool)
    before = pair.prev.snap.pools.get(pool) if pair else None
    after = pair.cur.snap.pools.get(pool) if pair else None
    per_sec = pair.rate(before.requests_total, after.requests_total) if pair and before and after else 0
    active = sum(w.requests_active for w in snap.workers) if snap else 0
    return requests(active, per_sec, snap.requests_total if snap else 0)


def _procs(sample: Sample, pools: Iterable[str] | None) -> list[ProcessStats]:
    chosen = sample.snap.pools.values() if pools is None else [sample.snap.pools[p] for p in pools
                                                                if p in sample.snap.pools]  # fmt: skip
    pids = {w.pid for pool in chosen for w in pool.workers}
    return [sample.procs[pid] for pid in sorted(pids) if pid in sample.procs]


def _per_sec(pair: Pair, proc: ProcessStats, value: str) -> float:
    before = pair.prev.procs.get(proc.pid)
    if before is not None and before.create_time == proc.create_time:
        return (float(getattr(proc, value)) - float(getattr(before, value))) / pair.elapsed
    # A process born after the previous sample: its average since it started.
    return float(getattr(proc, value)) / max(time.time() - proc.create_time, 1e-3)


def processes(pair: Pair | None, pools: Iterable[str] | None = None, *, system: bool = False) -> dict[str, Any]:
    """`memory`, `cpu` and `disk` over the worker processes of `pools` (every pool when None)."""
    import psutil  # on first use: ~0.9 MiB resident that an agent nobody monitors does without

    names = None if pools is None else list(pools)
    procs = _procs(pair.cur, names) if pair else []
    installed = pair.cur.memory_installed if pair else psutil.virtual_memory().total
    available = pair.cur.memory_available if pair else psutil.virtual_memory().available
    cpus = psutil.cpu_count() or 1

    def rate(value: str) -> int:
        return max(0, round(sum(_per_sec(pair, p, value) for p in procs))) if pair else 0

    cpu_seconds = sum(_per_sec(pair, p, "cpu_seconds") for p in procs) if pair else 0.0
    cpu: dict[str, int] = {
        "percent_usage": max(0, round(cpu_seconds * 100 / cpus)),
        "threads": sum(p.threads for p in procs),
        "processes": len(procs),
    }
    if system:
        total = pair.cur.cpu_total - pair.prev.cpu_total if pair else 0.0
        busy = pair.cur.cpu_busy - pair.prev.cpu_busy if pair else 0.0
        cpu["system_percent_usage"] = max(0, min(100, round(busy * 100 / total))) if total > 0 else 0
    return {
        "memory": {
            "handles": sum(p.handles for p in procs),
            "private_bytes": sum(p.private_bytes for p in procs),
            "private_working_set": sum(p.private_working_set for p in procs),
            "system_in_use": int(installed - available),
            "installed": int(installed),
        },
        "cpu": cpu,
        "disk": {
            "io_write_operations_sec": rate("write_ops"),
            "io_read_operations_sec": rate("read_ops"),
            "page_faults_sec": rate("page_faults"),
        },
    }


def cache(kernel: CacheSnapshot | None = None) -> dict[str, int]:
    """The 13 `cache` members; the kernel response cache fills the URI and output cache ones (no file cache).

    URI members: Web Service Cache's Kernel: Current URIs Cached / URI Cache Hits / Misses / Total URIs Cached.
    Output members: the same items, hits and misses plus the bytes held (IIS configures kernel caching in its
    output caching feature, system.webServer/caching, and only the output cache reports memory).
    """
    members = dict.fromkeys(CACHE_MEMBERS, 0)
    if kernel is not None:
        members.update(
            uri_cache_count=kernel.items, uri_cache_hits=kernel.hits, uri_cache_misses=kernel.misses,
            total_uris_cached=kernel.items_added, output_cache_count=kernel.items,
            output_cache_memory_usage=kernel.bytes, output_cache_hits=kernel.hits, output_cache_misses=kernel.misses,
        )  # fmt: skip
    return members


def webserver(pair: Pair | None, live: HostSnapshot) -> dict[str, Any]:
    """Members of /api/webserver/monitoring (without `id`)."""
    procs = processes(pair, system=True)
    return {"network": network(pair, live), "requests": site_requests(pair, live), **procs,
            "cache": cache(live.cache)}  # fmt: skip


def site(pair: Pair | None, live: HostSnapshot, name: str, pool: str | None, uptime: int) -> dict[str, Any]:
    """Members of a site snapshot: its own traffic, its root pool's processes."""
    procs = processes(pair, [pool] if pool else [])
    return {"uptime": uptime, "network": network(pair, live, [name]), "requests": site_requests(pair, live, [name]),
            **procs, "cache": cache()}  # fmt: skip


def pool(pair: Pair | None, live: HostSnapshot, name: str) -> dict[str, Any]:
    """Members of an application-pool snapshot."""
    return {"requests": pool_requests(pair, live, name), **processes(pair, [name]), "cache": cache()}
