"""The Prometheus collector and the snapshot arithmetic on hand-made host snapshots."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from agent.hosting.runtime_types import HostSnapshot, PoolSnapshot, RuntimeStatus, SiteSnapshot, WorkerSnapshot
from agent.monitoring import snapshots
from agent.monitoring.monitor import CpuLedger, Monitor, Pair, Sample
from agent.monitoring.processes import read_process
from agent.monitoring.prometheus import POOL_STATES, render_metrics
from tests.agent.monitoring.exposition_text import parse


def _site(requests: int, sent: int) -> SiteSnapshot:
    return SiteSnapshot(name="Web", id=1, state=RuntimeStatus.STARTED, error="", requests_total=requests,
                        requests_active=1, bytes_sent=sent, bytes_received=10 * requests, connections_current=2,
                        connections_total=requests, connections_refused=1, status_counts={200: requests, 404: 1},
                        method_counts={"GET": max(0, requests - 2), "POST": min(requests, 1)})


def _snap(requests: int, pids: tuple[int, ...]) -> HostSnapshot:
    workers = tuple(WorkerSnapshot(pid=pid, pool="Pool", state="running", started_at=1.0, requests_total=requests,
                                   requests_active=0, requests=()) for pid in pids)  # fmt: skip
    pools = {
        "Pool": PoolSnapshot(name="Pool", state=RuntimeStatus.STARTED, requests_total=requests, recycles=1,
                             recent_crashes=0, worker_starts=len(pids), workers=workers),
        "Idle": PoolSnapshot(name="Idle", state=RuntimeStatus.STOPPED, requests_total=0, recycles=0,
                             recent_crashes=2, worker_starts=0, workers=(), failures_total=3),
    }  # fmt: skip
    sites = {"Web": _site(requests, 100 * requests)}
    return HostSnapshot(server_state=RuntimeStatus.STARTED, taken_at=0.0, sites=sites, pools=pools)


# windows_exporter's IIS collector (internal/collector/iis/*.go): type and label names of every family the
# agent serves. Families it has and the agent does not serve are listed in docs/metrics.md.
WINDOWS_EXPORTER = {
    "windows_iis_current_connections": ("gauge", ("site",)),
    "windows_iis_service_uptime": ("gauge", ("site",)),
    "windows_iis_received_bytes_total": ("counter", ("site",)),
    "windows_iis_sent_bytes_total": ("counter", ("site",)),
    "windows_iis_connection_attempts_all_instances_total": ("counter", ("site",)),
    "windows_iis_requests_total": ("counter", ("method", "site")),
    "windows_iis_locked_errors_total": ("counter", ("site",)),
    "windows_iis_not_found_errors_total": ("counter", ("site",)),
    "windows_iis_current_application_pool_state": ("gauge", ("app", "state")),
    "windows_iis_current_worker_processes": ("gauge", ("app",)),
    "windows_iis_recent_worker_process_failures": ("gauge", ("app",)),
    "windows_iis_total_application_pool_recycles": ("counter", ("app",)),
    "windows_iis_total_worker_processes_created": ("counter", ("app",)),
    "windows_iis_total_worker_process_failures": ("counter", ("app",)),
    "windows_iis_worker_requests_total": ("counter", ("app", "pid")),
    "windows_iis_worker_current_requests": ("counter", ("app", "pid")),
    "windows_iis_server_uri_cache_flushes_total": ("counter", ("mode",)),
    "windows_iis_server_uri_cache_queries_total": ("counter", ("mode",)),
    "windows_iis_server_uri_cache_hits_total": ("counter", ("mode",)),
    "windows_iis_server_uri_cache_items": ("gauge", ("mode",)),
    "windows_iis_server_uri_cache_items_total": ("counter", ("mode",)),
    "windows_iis_server_uri_cache_items_flushed_total": ("counter", ("mode",)),
}
WINDOWS_EXPORTER_METHODS = {"other", "COPY", "DELETE", "GET", "HEAD", "LOCK", "MKCOL", "MOVE", "OPTIONS", "POST",
                            "PROPFIND", "PROPPATCH", "PUT", "SEARCH", "TRACE", "UNLOCK"}  # fmt: skip
NOT_SERVED = (
    "windows_iis_current_anonymous_users", "windows_iis_current_blocked_async_io_requests",
    "windows_iis_current_cgi_requests", "windows_iis_current_isapi_extension_requests",
    "windows_iis_current_non_anonymous_users", "windows_iis_anonymous_users_total",
    "windows_iis_blocked_async_io_requests_total", "windows_iis_cgi_requests_total", "windows_iis_files_received_total",
    "windows_iis_files_sent_total", "windows_iis_ipapi_extension_requests_total", "windows_iis_logon_attempts_total",
    "windows_iis_non_anonymous_users_total", "windows_iis_rejected_async_io_requests_total",
    "windows_iis_current_application_pool_start_time", "windows_iis_maximum_worker_processes",
    "windows_iis_time_since_last_worker_process_failure", "windows_iis_total_application_pool_start_time",
    "windows_iis_total_worker_process_ping_failures", "windows_iis_total_worker_process_shutdown_failures",
    "windows_iis_total_worker_process_startup_failures", "windows_iis_worker_threads", "windows_iis_worker_max_threads",
    "windows_iis_worker_cache_active_flushed_entries", "windows_iis_worker_file_cache_",
    "windows_iis_worker_uri_cache_", "windows_iis_worker_metadata_cache_", "windows_iis_worker_output_cache_",
    "windows_iis_worker_output_queries_total", "windows_iis_worker_request_errors_total",
    "windows_iis_worker_current_websocket_requests", "windows_iis_worker_websocket_connection_attempts_total",
    "windows_iis_worker_websocket_connection_accepted_total", "windows_iis_worker_websocket_connection_rejected_total",
    "windows_iis_server_cache_active_flushed_entries", "windows_iis_server_file_cache_",
    "windows_iis_server_metadata_cache_", "windows_iis_server_output_cache_",
    "windows_iis_http_requests_current_queue_size",
    "windows_iis_http_request_total_rejected_request", "windows_iis_http_requests_max_queue_item_age",
    "windows_iis_http_requests_arrival_rate", "windows_iis_info",
)  # fmt: skip
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def _render(requests: int = 7) -> str:
    me = read_process(os.getpid())
    assert me is not None and me.working_set > 0 and me.threads >= 1
    return render_metrics(_snap(requests, (os.getpid(),)), {os.getpid(): me}, Monitor(object())).decode()


def test_metrics_families_and_one_hot_pool_state() -> None:
    text = _render()
    metrics = parse(text)
    state = metrics.samples["windows_iis_current_application_pool_state"]
    for pool in ("Pool", "Idle"):
        values = {labels["state"]: v for labels, v in state if labels["app"] == pool}
        assert set(values) == set(POOL_STATES) and sum(values.values()) == 1
    assert {labels["app"]: labels["state"] for labels, v in state if v == 1} == {"Pool": "Running", "Idle": "Disabled"}
    # Per verb as IIS counts: 5 GET, 1 POST from the host, the rest (one PATCH-like verb) under "other".
    requests = {labels["method"]: v for labels, v in metrics.samples["windows_iis_requests_total"]}
    assert set(requests) == WINDOWS_EXPORTER_METHODS
    assert (requests["GET"], requests["POST"], requests["other"], requests["PUT"]) == (5, 1, 1, 0)
    assert metrics.value("windows_iis_connection_attempts_all_instances_total", site="Web") == 8
    assert metrics.value("windows_iis_not_found_errors_total", site="Web") == 1
    assert metrics.value("windows_iis_total_application_pool_recycles", app="Pool") == 1
    assert metrics.value("windows_iis_total_worker_process_failures", app="Idle") == 3
    assert metrics.value("windows_iis_worker_cpu_seconds_total", app="Pool", pid=str(os.getpid())) > 0
    assert metrics.value("windows_iis_worker_working_set_bytes", app="Pool") > 0


def test_families_match_windows_exporter_names_types_and_labels() -> None:
    metrics = parse(_render())
    for name, (kind, labels) in WINDOWS_EXPORTER.items():
        assert metrics.types.get(name) == kind, name
        assert metrics.label_names(name) == {labels}, name
    documented = DOCS.read_text()
    for name in metrics.types:
        assert f"`{name}`" in documented, f"{name} is not in docs/metrics.md"
    # Every other windows_exporter family is named in the "Not served" table, with its reason.
    not_served = documented[documented.index("## Not served") :]
    for name in NOT_SERVED:
        assert name in not_served, f"{name} is neither served nor listed as not served"


def test_promtool_parses_the_exposition() -> None:
    done = subprocess.run(["promtool", "check", "metrics"], input=_render(), capture_output=True, text=True)
    # Only lint remarks windows_exporter earns too: its counters named without `_total`.
    remarks = {line.split()[0] for line in (done.stdout + done.stderr).splitlines() if line.strip()}
    assert remarks == {
        "windows_iis_total_application_pool_recycles", "windows_iis_total_worker_process_failures",
        "windows_iis_total_worker_processes_created", "windows_iis_worker_current_requests",
    }, done.stdout + done.stderr  # fmt: skip


def test_label_values_are_escaped() -> None:
    site = _site(1, 1)
    odd = 'a "quoted"\\site\nname'
    snap = HostSnapshot(server_state=RuntimeStatus.STARTED, taken_at=0.0, sites={odd: site}, pools={})
    metrics = parse(render_metrics(snap, {}, Monitor(object())).decode())
    assert metrics.value("windows_iis_sent_bytes_total", site=odd) == 1


def test_pool_cpu_stays_monotonic_across_recycles() -> None:
    ledger = CpuLedger()
    assert ledger.update({("Pool", 1): 2.0}) == {"Pool": 2.0}
    assert ledger.update({("Pool", 1): 3.0}) == {"Pool": 3.0}
    assert ledger.update({("Pool", 2): 0.5}) == {"Pool": 3.5}  # worker 1 recycled away


def test_rates_come_from_the_sample_pair() -> None:
    def sample(at: float, requests: int) -> Sample:
        return Sample(at, _snap(requests, ()), {}, cpu_busy=at, cpu_total=4 * at, memory_installed=100,
                      memory_available=40)  # fmt: skip

    pair = Pair(sample(10.0, 5), sample(12.0, 25))
    live = _snap(30, ())
    net = snapshots.network(pair, live)
    assert net["bytes_sent_sec"] == 1000 and net["total_bytes_sent"] == 3000 and net["current_connections"] == 2
    assert snapshots.site_requests(pair, live) == {"active": 1, "per_sec": 10, "total": 30}
    assert snapshots.pool_requests(pair, live, "Pool")["per_sec"] == 10
    procs = snapshots.processes(pair, system=True)
    assert procs["cpu"]["system_percent_usage"] == 25 and procs["memory"]["system_in_use"] == 60
    backwards = Pair(sample(10.0, 25), sample(12.0, 5))  # a site replaced: counters restart, rates clamp at 0
    assert snapshots.site_requests(backwards, live)["per_sec"] == 0
