"""/metrics: windows_exporter's IIS families (names, types, labels), generated on scrape from one host snapshot.

Nothing is counted on the request path: the tables below turn the host's own counters and the workers'
process statistics into families when Prometheus scrapes. docs/metrics.md lists every family, and the
windows_exporter families that are not served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from agent.hosting.runtime_types import (
    COUNTED_METHODS,
    CacheSnapshot,
    HostSnapshot,
    PoolSnapshot,
    RuntimeStatus,
    SiteSnapshot,
)
from agent.monitoring.exposition import Family, Kind, label, render
from agent.monitoring.monitor import Monitor
from agent.monitoring.processes import ProcessStats

# windows_exporter's one-hot label values (APP_POOL_WAS "Current Application Pool State" 1..7).
POOL_STATES = ("Uninitialized", "Initialized", "Running", "Disabling", "Disabled", "Shutdown Pending", "Delete Pending")
POOL_STATE_OF = {
    RuntimeStatus.STARTED: "Running", RuntimeStatus.STOPPED: "Disabled", RuntimeStatus.STARTING: "Initialized",
    RuntimeStatus.STOPPING: "Shutdown Pending", RuntimeStatus.UNKNOWN: "Uninitialized",
}  # fmt: skip
SITE_STATES = ("started", "stopped", "starting", "stopping", "unknown")
# windows_exporter's `method` values of windows_iis_requests_total: IIS's per-verb counters, then "other".
METHODS = (*sorted(COUNTED_METHODS), "other")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Row(Generic[T]):
    """One single-value family per object (site or pool): name, type, help and how to read the value."""

    name: str
    kind: Kind
    help: str
    value: Callable[[T], float]


@dataclass(frozen=True, slots=True)
class PoolView:
    """A pool's snapshot with its workers' process statistics and its CPU total (exited workers included)."""

    snap: PoolSnapshot
    procs: list[ProcessStats]
    cpu_total: float


SITE_ROWS: tuple[Row[SiteSnapshot], ...] = (
    Row("windows_iis_current_connections", "gauge", "Active connections", lambda s: s.connections_current),
    Row("windows_iis_connection_attempts_all_instances_total", "counter",
        "Connection attempts since the service started (refused ones included)",
        lambda s: s.connections_total + s.connections_refused),
    Row("windows_iis_received_bytes_total", "counter", "Bytes received", lambda s: s.bytes_received),
    Row("windows_iis_sent_bytes_total", "counter", "Bytes sent", lambda s: s.bytes_sent),
    Row("windows_iis_not_found_errors_total", "counter", "Responses with status 404",
        lambda s: s.status_counts.get(404, 0)),
    Row("windows_iis_locked_errors_total", "counter", "Responses with status 423",
        lambda s: s.status_counts.get(423, 0)),
    Row("windows_iis_site_current_requests", "gauge", "Requests being served (addition)", lambda s: s.requests_active),
    Row("windows_iis_site_rejected_connections_total", "counter", "Connections refused by maxConnections (addition)",
        lambda s: s.connections_refused),
)  # fmt: skip

POOL_ROWS: tuple[Row[PoolView], ...] = (
    Row("windows_iis_current_worker_processes", "gauge", "Running worker processes",
        lambda p: sum(1 for w in p.snap.workers if w.state == "running")),
    Row("windows_iis_recent_worker_process_failures", "gauge", "Worker failures within the rapid-fail interval",
        lambda p: p.snap.recent_crashes),
    Row("windows_iis_total_application_pool_recycles", "counter", "Recycles since the service started",
        lambda p: p.snap.recycles),
    Row("windows_iis_total_worker_processes_created", "counter", "Worker processes started",
        lambda p: p.snap.worker_starts),
    Row("windows_iis_total_worker_process_failures", "counter", "Worker processes that crashed or failed to start",
        lambda p: p.snap.failures_total),
    Row("windows_iis_app_pool_requests_total", "counter", "Requests served by the pool (addition)",
        lambda p: p.snap.requests_total),
    Row("windows_iis_app_pool_current_requests", "gauge", "Requests in the pool's workers (addition)",
        lambda p: sum(w.requests_active for w in p.snap.workers)),
    Row("windows_iis_app_pool_cpu_seconds_total", "counter",
        "CPU seconds of the pool's workers, exited ones included (addition)", lambda p: p.cpu_total),
    Row("windows_iis_app_pool_private_bytes", "gauge", "Private bytes of the pool's workers (addition)",
        lambda p: sum(s.private_bytes for s in p.procs)),
    Row("windows_iis_app_pool_working_set_bytes", "gauge", "Working set of the pool's workers (addition)",
        lambda p: sum(s.working_set for s in p.procs)),
)  # fmt: skip

# windows_exporter's Web Service Cache URI families; mode="kernel" is HTTP.sys's cache (ours), and there is no
# user-mode URI cache, so no mode="user" series.
CACHE_ROWS: tuple[Row[CacheSnapshot], ...] = (
    Row("windows_iis_server_uri_cache_hits_total", "counter", "Successful lookups in the URI cache", lambda c: c.hits),
    Row("windows_iis_server_uri_cache_queries_total", "counter", "URI cache lookups (hits + misses)",
        lambda c: c.hits + c.misses),
    Row("windows_iis_server_uri_cache_items", "gauge", "URIs in the cache now", lambda c: c.items),
    Row("windows_iis_server_uri_cache_items_total", "counter", "URIs ever added to the cache",
        lambda c: c.items_added),
    Row("windows_iis_server_uri_cache_items_flushed_total", "counter", "URIs removed from the cache",
        lambda c: c.items_flushed),
    Row("windows_iis_server_uri_cache_flushes_total", "counter", "URI cache flushes", lambda c: c.flushes),
    Row("windows_iis_server_uri_cache_memory_bytes", "gauge", "Bytes held by the kernel response cache (addition)",
        lambda c: c.bytes),
)  # fmt: skip

PROCESS_ROWS: tuple[Row[ProcessStats], ...] = (
    Row("windows_iis_worker_cpu_seconds_total", "counter", "CPU seconds, user + system (addition)",
        lambda s: s.cpu_seconds),
    Row("windows_iis_worker_private_bytes", "gauge", "Private bytes, USS + swap (addition)", lambda s: s.private_bytes),
    Row("windows_iis_worker_working_set_bytes", "gauge", "Working set, RSS (addition)", lambda s: s.working_set),
    Row("windows_iis_worker_virtual_bytes", "gauge", "Virtual memory size (addition)", lambda s: s.virtual_bytes),
    Row("windows_iis_worker_handles", "gauge", "Open handles, file descriptors (addition)", lambda s: s.handles),
    Row("windows_iis_worker_process_threads", "gauge", "OS threads (addition)", lambda s: s.threads),
)  # fmt: skip


class IisMetrics:
    """One scrape's worth of families, built from a snapshot."""

    def __init__(self, snap: HostSnapshot, procs: dict[int, ProcessStats], monitor: Monitor) -> None:
        self.snap = snap
        self.procs = procs
        self.monitor = monitor

    def families(self) -> Iterator[Family]:
        """Every family, in a stable order."""
        yield from self._server()
        yield from self._sites()
        yield from self._pools()

    def _server(self) -> Iterator[Family]:
        state = Family("windows_iis_server_state", "gauge", "Web server (W3SVC) state, one-hot (addition)")
        for name in SITE_STATES:
            state.add(label("state", name), 1 if self.snap.server_state.value == name else 0)
        yield state
        kernel = label("mode", "kernel")
        for row in CACHE_ROWS:
            family = Family(row.name, row.kind, row.help)
            family.add(kernel, row.value(self.snap.cache))
            yield family

    def _sites(self) -> Iterator[Family]:
        rows = [Family(row.name, row.kind, row.help) for row in SITE_ROWS]
        requests = Family("windows_iis_requests_total", "counter", "Requests by HTTP method")
        uptime = Family("windows_iis_service_uptime", "gauge", "Seconds since the site started")
        state = Family("windows_iis_site_state", "gauge", "Site state, one-hot (addition)")
        statuses = Family("windows_iis_site_responses_total", "counter", "Responses by status code (addition)")
        for name, s in sorted(self.snap.sites.items()):
            site = label("site", name)
            for row, family in zip(SITE_ROWS, rows, strict=True):
                family.add(site, row.value(s))
            counted = s.method_counts
            for method in METHODS[:-1]:
                requests.add(f'{site},method="{method}"', counted.get(method, 0))
            requests.add(f'{site},method="other"', max(0, s.requests_total - sum(counted.values())))
            uptime.add(site, self.monitor.uptime(name))
            for value in SITE_STATES:
                state.add(f'{site},state="{value}"', 1 if s.state.value == value else 0)
            for code, count in sorted(s.status_counts.items()):
                statuses.add(f'{site},status_code="{code}"', count)
        yield from (*rows, requests, uptime, state, statuses)

    def _pools(self) -> Iterator[Family]:
        live = {(p.name, w.pid): self.procs[w.pid].cpu_seconds
                for p in self.snap.pools.values() for w in p.workers if w.pid in self.procs}  # fmt: skip
        cpu_totals = self.monitor.ledger.update(live)
        state = Family("windows_iis_current_application_pool_state", "gauge",
                       "Application pool state, one-hot over the 7 WAS states")  # fmt: skip
        rows = [Family(row.name, row.kind, row.help) for row in POOL_ROWS]
        worker_requests = Family("windows_iis_worker_requests_total", "counter", "Requests served by the worker")
        # windows_exporter types this one as a counter although it goes down; same type here, on purpose.
        worker_current = Family("windows_iis_worker_current_requests", "counter", "Requests being processed")
        started = Family("windows_iis_worker_start_time_seconds", "gauge", "Unix time the worker started (addition)")
        process_rows = [Family(row.name, row.kind, row.help) for row in PROCESS_ROWS]
        for name, p in sorted(self.snap.pools.items()):
            app = label("app", name)
            current = POOL_STATE_OF.get(p.state, "Uninitialized")
            for value in POOL_STATES:
                state.add(f'{app},state="{value}"', 1 if value == current else 0)
            view = PoolView(p, [self.procs[w.pid] for w in p.workers if w.pid in self.procs], cpu_totals.get(name, 0.0))
            for row, family in zip(POOL_ROWS, rows, strict=True):
                family.add(app, row.value(view))
            for w in p.workers:
                key = f'{app},pid="{w.pid}"'
                worker_requests.add(key, w.requests_total)
                worker_current.add(key, w.requests_active)
                started.add(key, w.started_at)
                stats = self.procs.get(w.pid)
                if stats is not None:
                    for process_row, family in zip(PROCESS_ROWS, process_rows, strict=True):
                        family.add(key, process_row.value(stats))
        yield from (state, *rows, worker_requests, worker_current, started, *process_rows)


def render_metrics(snap: HostSnapshot | None, procs: dict[int, ProcessStats], monitor: Monitor) -> bytes:
    """The text exposition of one scrape (no IIS families when the host reports no runtime state)."""
    return render(IisMetrics(snap, procs, monitor).families()) if snap is not None else b""
