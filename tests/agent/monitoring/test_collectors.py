"""The Prometheus collector and the snapshot arithmetic on hand-made host snapshots."""

from __future__ import annotations

import os

from prometheus_client.parser import text_string_to_metric_families

from agent.hosting.runtime_types import HostSnapshot, PoolSnapshot, RuntimeStatus, SiteSnapshot, WorkerSnapshot
from agent.monitoring import snapshots
from agent.monitoring.monitor import CpuLedger, Monitor, Pair, Sample
from agent.monitoring.processes import read_process
from agent.monitoring.prometheus import POOL_STATES, render_metrics


def _site(requests: int, sent: int) -> SiteSnapshot:
    return SiteSnapshot(name="Web", id=1, state=RuntimeStatus.STARTED, error="", requests_total=requests,
                        requests_active=1, bytes_sent=sent, bytes_received=10 * requests, connections_current=2,
                        connections_total=requests, connections_refused=1, status_counts={200: requests, 404: 1})


def _snap(requests: int, pids: tuple[int, ...]) -> HostSnapshot:
    workers = tuple(WorkerSnapshot(pid=pid, pool="Pool", state="running", started_at=1.0, requests_total=requests,
                                   requests_active=0, requests=()) for pid in pids)  # fmt: skip
    pools = {
        "Pool": PoolSnapshot(name="Pool", state=RuntimeStatus.STARTED, requests_total=requests, recycles=1,
                             recent_crashes=0, worker_starts=len(pids), workers=workers),
        "Idle": PoolSnapshot(name="Idle", state=RuntimeStatus.STOPPED, requests_total=0, recycles=0,
                             recent_crashes=2, worker_starts=0, workers=()),
    }  # fmt: skip
    sites = {"Web": _site(requests, 100 * requests)}
    return HostSnapshot(server_state=RuntimeStatus.STARTED, taken_at=0.0, sites=sites, pools=pools)


def test_metrics_families_and_one_hot_pool_state() -> None:
    me = read_process(os.getpid())
    assert me is not None and me.working_set > 0 and me.threads >= 1
    text = render_metrics(_snap(7, (os.getpid(),)), {os.getpid(): me}, Monitor(object())).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    state = families["windows_iis_current_application_pool_state"]
    for pool in ("Pool", "Idle"):
        values = {s.labels["state"]: s.value for s in state.samples if s.labels["app"] == pool}
        assert set(values) == set(POOL_STATES) and sum(values.values()) == 1
    assert {s.labels["app"]: s.labels["state"] for s in state.samples if s.value == 1} == {
        "Pool": "Running", "Idle": "Disabled"}  # fmt: skip
    [requests] = families["windows_iis_requests"].samples
    assert requests.labels == {"site": "Web", "method": "all"} and requests.value == 7
    assert families["windows_iis_connection_attempts_all_instances"].samples[0].value == 8
    assert families["windows_iis_not_found_errors"].samples[0].value == 1
    recycles = {s.labels["app"]: s.value for s in families["windows_iis_total_application_pool_recycles"].samples}
    assert recycles == {"Pool": 1, "Idle": 0}  # windows_exporter's exact name, no `_total`
    assert "windows_iis_total_application_pool_recycles_total" not in text
    [cpu] = families["windows_iis_worker_cpu_seconds"].samples
    assert cpu.labels == {"app": "Pool", "pid": str(os.getpid())} and cpu.value > 0
    assert families["windows_iis_worker_working_set_bytes"].samples[0].value > 0


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
