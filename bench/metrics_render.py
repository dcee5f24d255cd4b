"""Benchmark: an agent's /metrics with 1,000 sites and pools, against prometheus_client in the same run.

Both sides render the same series: the agent's renderer (agent/monitoring/prometheus.py) from a host
snapshot of N sites and N pools (one worker each, with process statistics), and prometheus_client's
generate_latest() from a collector that yields the very samples the agent's text holds (every family, label
and value, built as prometheus_client Metric objects inside the timed region, as a collector does per
scrape). Time is process CPU time (time.process_time), median of --repeat renders after one warm-up.
Goal (P6): at most 100 ms of CPU per 1,000 pools.

    .venv/bin/python bench/metrics_render.py [--sizes 100,1000,5000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.hosting.runtime_types import (  # noqa: E402
    HostSnapshot,
    PoolSnapshot,
    RuntimeStatus,
    SiteSnapshot,
    WorkerSnapshot,
)
from agent.monitoring.monitor import Monitor  # noqa: E402
from agent.monitoring.processes import ProcessStats  # noqa: E402
from agent.monitoring.prometheus import render_metrics  # noqa: E402

Family = tuple[str, str, list[str], list[tuple[list[str], float]]]


def snapshot(count: int) -> tuple[HostSnapshot, dict[int, ProcessStats]]:
    """N sites, N pools with one running worker each, and the workers' process statistics."""
    sites, pools, procs = {}, {}, {}
    for n in range(count):
        sites[f"site{n}"] = SiteSnapshot(
            name=f"site{n}", id=n + 1, state=RuntimeStatus.STARTED, error="", requests_total=1000 + n,
            requests_active=n % 3, bytes_sent=10**6 + n, bytes_received=10**5 + n, connections_current=n % 5,
            connections_total=500 + n, connections_refused=0, status_counts={200: 990 + n, 404: 10},
            method_counts={"GET": 900 + n, "POST": 90, "HEAD": 10},
        )  # fmt: skip
        pid = 100_000 + n
        worker = WorkerSnapshot(pid=pid, pool=f"pool{n}", state="running", started_at=1.7e9 + n,
                                requests_total=1000 + n, requests_active=n % 3, requests=())  # fmt: skip
        pools[f"pool{n}"] = PoolSnapshot(name=f"pool{n}", state=RuntimeStatus.STARTED, requests_total=1000 + n,
                                         recycles=n % 4, recent_crashes=0, worker_starts=1 + n % 4,
                                         workers=(worker,), failures_total=n % 2)  # fmt: skip
        procs[pid] = ProcessStats(pid=pid, name="python", create_time=1.7e9, cpu_seconds=12.5 + n,
                                  working_set=50 << 20, peak_working_set=60 << 20, private_bytes=40 << 20,
                                  private_working_set=30 << 20, virtual_bytes=400 << 20,
                                  peak_virtual_bytes=500 << 20, threads=4, handles=30, read_ops=0, write_ops=0,
                                  page_faults=0)  # fmt: skip
    return HostSnapshot(server_state=RuntimeStatus.STARTED, taken_at=time.time(), sites=sites, pools=pools), procs


def families_of(text: str) -> list[Family]:
    """(name, type, label names, samples) of every family in the agent's text, for the baseline."""
    out: list[Family] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out.append((name, kind, [], []))
        elif not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            name, _, raw = series.partition("{")
            pairs = [pair.split("=", 1) for pair in raw.rstrip("}").split('",') if pair] if raw else []
            labels = [key for key, _ in pairs]
            values = [val.strip('"') for _, val in pairs]
            family = out[-1]
            if not family[2]:
                family[2].extend(labels)
            family[3].append((values, float(value)))
    return out


class SameSeries(Collector):
    """prometheus_client's way: Metric objects built per scrape, then generate_latest()."""

    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        """The same families and samples the agent renders."""
        for name, kind, labels, samples in self.families:
            if kind == "counter":
                metric: Metric = CounterMetricFamily(name.removesuffix("_total"), name, labels=labels)
            else:
                metric = GaugeMetricFamily(name, name, labels=labels)
            for values, value in samples:
                metric.add_metric(values, value)  # type: ignore[attr-defined]
            yield metric


def baseline(families: list[Family]) -> bytes:
    """One prometheus_client scrape of the same series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SameSeries(families))
    return generate_latest(registry)


def cpu_ms(render: Callable[[], bytes], repeat: int) -> tuple[float, int]:
    """Median CPU milliseconds of one render, and the size of its output."""
    size = len(render())  # warm-up
    times = []
    for _ in range(repeat):
        start = time.process_time()
        render()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="numbers of sites and pools")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| sites + pools | series | agent ms CPU | prometheus_client ms CPU | ratio | agent ms per 1,000 pools |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in (int(part) for part in args.sizes.split(",")):
        snap, procs = snapshot(count)
        monitor = Monitor(object())
        text = render_metrics(snap, procs, monitor).decode()
        families = families_of(text)
        series = sum(len(samples) for *_rest, samples in families)

        same = sum(1 for line in baseline(families).decode().splitlines() if not line.startswith("#"))
        assert same == series, (same, series)  # both sides render exactly the same number of series
        agent_ms, _size = cpu_ms(partial(render_metrics, snap, procs, monitor), args.repeat)
        client_ms, _client_size = cpu_ms(partial(baseline, families), args.repeat)
        print(
            f"| {count:,} | {series:,} | {agent_ms:.1f} | {client_ms:.1f} | x{client_ms / agent_ms:.1f} faster "
            f"| {agent_ms * 1000 / count:.1f} |"
        )


if __name__ == "__main__":
    main()
