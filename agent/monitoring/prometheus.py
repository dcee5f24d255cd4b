"""/metrics: windows_exporter's IIS metric names, generated on scrape from one host snapshot.

Nothing is counted on the request path: a custom Collector turns the host's own counters and the workers'
process statistics into metric families when Prometheus scrapes. docs/metrics.md lists every family.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from agent.hosting.runtime_types import HostSnapshot, RuntimeStatus
from agent.monitoring.monitor import Monitor
from agent.monitoring.processes import ProcessStats

# windows_exporter's one-hot label values (APP_POOL_WAS "Current Application Pool State" 1..7).
POOL_STATES = ("Uninitialized", "Initialized", "Running", "Disabling", "Disabled", "Shutdown Pending", "Delete Pending")
POOL_STATE_OF = {
    RuntimeStatus.STARTED: "Running", RuntimeStatus.STOPPED: "Disabled", RuntimeStatus.STARTING: "Initialized",
    RuntimeStatus.STOPPING: "Shutdown Pending", RuntimeStatus.UNKNOWN: "Uninitialized",
}  # fmt: skip
SITE_STATES = ("started", "stopped", "starting", "stopping", "unknown")
# The host counts requests per site, not per verb; windows_exporter's `method` label gets this one value.
ALL_METHODS = "all"


class ExactNameCounter(Metric):
    """A counter under windows_exporter's exact name, which lacks `_total` where prometheus-client would add it.

    prometheus-client renames every counter family to `<name>_total`; exposing the series as untyped keeps the
    name dashboards query (PromQL's rate() does not look at the type).
    """

    def __init__(self, name: str, documentation: str, labels: list[str]) -> None:
        super().__init__(name, documentation, "unknown")
        self.labels = labels

    def add_metric(self, values: list[str], value: float) -> None:
        """One series."""
        self.add_sample(self.name, dict(zip(self.labels, values, strict=True)), value)


class IisCollector(Collector):
    """One scrape's worth of IIS metrics."""

    def __init__(self, snap: HostSnapshot, procs: dict[int, ProcessStats], monitor: Monitor) -> None:
        self.snap = snap
        self.procs = procs
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        """Every family, built from the snapshot."""
        yield from self._server()
        yield from self._kernel_cache()
        yield from self._sites()
        yield from self._pools()
        yield from self._workers()

    def _server(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("windows_iis_server_state", "Web server (W3SVC) state, one-hot", labels=["state"])
        for name in SITE_STATES:
            state.add_metric([name], 1.0 if self.snap.server_state.value == name else 0.0)
        yield state

    def _kernel_cache(self) -> Iterator[Metric]:
        # windows_exporter's Web Service Cache URI families; mode="kernel" is HTTP.sys's cache (ours), and there
        # is no user-mode URI cache, so no mode="user" series.
        c = self.snap.cache
        mode = ["mode"]
        families: list[Metric] = []
        for name, doc, value in (
            ("windows_iis_server_uri_cache_hits", "Successful lookups in the URI cache", c.hits),
            ("windows_iis_server_uri_cache_queries", "URI cache lookups (hits + misses)", c.hits + c.misses),
            ("windows_iis_server_uri_cache_items", "URIs ever added to the cache", c.items_added),
            ("windows_iis_server_uri_cache_items_flushed", "URIs removed from the cache", c.items_flushed),
            ("windows_iis_server_uri_cache_flushes", "URI cache flushes", c.flushes),
        ):
            counter = CounterMetricFamily(name, doc, labels=mode)
            counter.add_metric(["kernel"], value)
            families.append(counter)
        items = GaugeMetricFamily("windows_iis_server_uri_cache_items", "URIs in the cache now", labels=mode)
        items.add_metric(["kernel"], c.items)
        memory = GaugeMetricFamily("windows_iis_server_uri_cache_memory_bytes",
                                   "Bytes of responses held by the kernel response cache", labels=mode)  # fmt: skip
        memory.add_metric(["kernel"], c.bytes)
        yield from (*families, items, memory)

    def _sites(self) -> Iterator[Metric]:
        site = ["site"]
        connections = GaugeMetricFamily("windows_iis_current_connections", "Active connections", labels=site)
        attempts = CounterMetricFamily("windows_iis_connection_attempts_all_instances",
                                       "Connection attempts since the service started", labels=site)  # fmt: skip
        received = CounterMetricFamily("windows_iis_received_bytes", "Bytes received", labels=site)
        sent = CounterMetricFamily("windows_iis_sent_bytes", "Bytes sent", labels=site)
        requests = CounterMetricFamily("windows_iis_requests", "Requests (method=all)", labels=["site", "method"])
        not_found = CounterMetricFamily("windows_iis_not_found_errors", "Responses with status 404", labels=site)
        locked = CounterMetricFamily("windows_iis_locked_errors", "Responses with status 423", labels=site)
        uptime = GaugeMetricFamily("windows_iis_service_uptime", "Seconds since the site started", labels=site)
        state = GaugeMetricFamily("windows_iis_site_state", "Site state, one-hot", labels=["site", "state"])
        active = GaugeMetricFamily("windows_iis_site_current_requests", "Requests being served", labels=site)
        refused = CounterMetricFamily("windows_iis_site_rejected_connections",
                                      "Connections refused by maxConnections", labels=site)  # fmt: skip
        statuses = CounterMetricFamily("windows_iis_site_responses", "Responses by status code",
                                       labels=["site", "status_code"])  # fmt: skip
        for name, s in sorted(self.snap.sites.items()):
            connections.add_metric([name], s.connections_current)
            attempts.add_metric([name], s.connections_total + s.connections_refused)
            received.add_metric([name], s.bytes_received)
            sent.add_metric([name], s.bytes_sent)
            requests.add_metric([name, ALL_METHODS], s.requests_total)
            not_found.add_metric([name], s.status_counts.get(404, 0))
            locked.add_metric([name], s.status_counts.get(423, 0))
            uptime.add_metric([name], self.monitor.uptime(name))
            for value in SITE_STATES:
                state.add_metric([name, value], 1.0 if s.state.value == value else 0.0)
            active.add_metric([name], s.requests_active)
            refused.add_metric([name], s.connections_refused)
            for code, count in sorted(s.status_counts.items()):
                statuses.add_metric([name, str(code)], count)
        yield from (connections, attempts, received, sent, requests, not_found, locked, uptime, state, active,
                    refused, statuses)  # fmt: skip

    def _pools(self) -> Iterator[Metric]:
        app = ["app"]
        state = GaugeMetricFamily("windows_iis_current_application_pool_state",
                                  "Application pool state, one-hot over the 7 WAS states", labels=["app", "state"])
        workers = GaugeMetricFamily("windows_iis_current_worker_processes", "Running worker processes", labels=app)
        failures = GaugeMetricFamily("windows_iis_recent_worker_process_failures",
                                     "Worker failures within the rapid-fail interval", labels=app)
        recycles = ExactNameCounter("windows_iis_total_application_pool_recycles", "Recycles (counter)", app)
        created = ExactNameCounter("windows_iis_total_worker_processes_created", "Workers started (counter)", app)
        requests = CounterMetricFamily("windows_iis_app_pool_requests", "Requests served by the pool", labels=app)
        active = GaugeMetricFamily("windows_iis_app_pool_current_requests", "Requests in the pool's workers",
                                   labels=app)
        cpu = CounterMetricFamily("windows_iis_app_pool_cpu_seconds", "CPU seconds of the pool's workers, "
                                  "including exited ones", labels=app)
        private = GaugeMetricFamily("windows_iis_app_pool_private_bytes", "Private bytes of the pool's workers",
                                    labels=app)
        working = GaugeMetricFamily("windows_iis_app_pool_working_set_bytes", "Working set of the pool's workers",
                                    labels=app)
        live = {(p.name, w.pid): self.procs[w.pid].cpu_seconds
                for p in self.snap.pools.values() for w in p.workers if w.pid in self.procs}
        cpu_totals = self.monitor.ledger.update(live)
        for name, p in sorted(self.snap.pools.items()):
            current = POOL_STATE_OF.get(p.state, "Uninitialized")
            for value in POOL_STATES:
                state.add_metric([name, value], 1.0 if value == current else 0.0)
            procs = [self.procs[w.pid] for w in p.workers if w.pid in self.procs]
            workers.add_metric([name], sum(1 for w in p.workers if w.state == "running"))
            failures.add_metric([name], p.recent_crashes)
            recycles.add_metric([name], p.recycles)
            created.add_metric([name], p.worker_starts)
            requests.add_metric([name], p.requests_total)
            active.add_metric([name], sum(w.requests_active for w in p.workers))
            cpu.add_metric([name], cpu_totals.get(name, 0.0))
            private.add_metric([name], sum(s.private_bytes for s in procs))
            working.add_metric([name], sum(s.working_set for s in procs))
        yield from (state, workers, failures, recycles, created, requests, active, cpu, private, working)

    def _workers(self) -> Iterator[Metric]:
        labels = ["app", "pid"]
        requests = CounterMetricFamily("windows_iis_worker_requests", "Requests served by the worker", labels=labels)
        current = GaugeMetricFamily("windows_iis_worker_current_requests", "Requests being processed", labels=labels)
        cpu = CounterMetricFamily("windows_iis_worker_cpu_seconds", "CPU seconds (user + system)", labels=labels)
        private = GaugeMetricFamily("windows_iis_worker_private_bytes", "Private bytes (USS + swap)", labels=labels)
        working = GaugeMetricFamily("windows_iis_worker_working_set_bytes", "Working set (RSS)", labels=labels)
        virtual = GaugeMetricFamily("windows_iis_worker_virtual_bytes", "Virtual memory size", labels=labels)
        handles = GaugeMetricFamily("windows_iis_worker_handles", "Open handles (file descriptors)", labels=labels)
        threads = GaugeMetricFamily("windows_iis_worker_process_threads", "OS threads", labels=labels)
        started = GaugeMetricFamily("windows_iis_worker_start_time_seconds", "Unix time the worker started",
                                    labels=labels)
        for name, p in sorted(self.snap.pools.items()):
            for w in p.workers:
                key = [name, str(w.pid)]
                requests.add_metric(key, w.requests_total)
                current.add_metric(key, w.requests_active)
                started.add_metric(key, w.started_at)
                stats = self.procs.get(w.pid)
                if stats is None:
                    continue
                cpu.add_metric(key, stats.cpu_seconds)
                private.add_metric(key, stats.private_bytes)
                working.add_metric(key, stats.working_set)
                virtual.add_metric(key, stats.virtual_bytes)
                handles.add_metric(key, stats.handles)
                threads.add_metric(key, stats.threads)
        yield from (requests, current, cpu, private, working, virtual, handles, threads, started)


def render_metrics(snap: HostSnapshot | None, procs: dict[int, ProcessStats], monitor: Monitor) -> bytes:
    """The text exposition of one scrape (no IIS families when the host reports no runtime state)."""
    registry = CollectorRegistry(auto_describe=False)
    if snap is not None:
        registry.register(IisCollector(snap, procs, monitor))
    return generate_latest(registry)
