"""The iis backend reads IIS's per-verb Web Service counters into the snapshot windows_iis_requests_total uses."""

from __future__ import annotations

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.appcmd import SiteRecord
from agent.hosting.iis.counters import COUNTERS, WEB, parse_pdh_csv
from agent.hosting.iis.host import _site
from agent.hosting.runtime_types import HostSnapshot
from agent.monitoring.monitor import Monitor
from agent.monitoring.prometheus import render_metrics
from tests.agent.monitoring.exposition_text import parse

COLUMNS = {"Total Method Requests": 10, "Total Get Requests": 6, "Total Post Requests": 3}


def _csv(site: str) -> str:
    names = ",".join(f'"\\\\WEB01\\Web Service({site})\\{counter}"' for counter in COLUMNS)
    values = ",".join(f'"{value}"' for value in COLUMNS.values())
    return f'"(PDH-CSV 4.0)",{names}\n"12/04/2026 15:00:00.000",{values}\n'


def test_typeperf_asks_for_every_counted_verb() -> None:
    asked = {counter for obj, counter in COUNTERS if obj == WEB}
    assert {"Total Get Requests", "Total Propfind Requests", "Total Unlock Requests"} <= asked


def test_per_verb_counters_become_method_series() -> None:
    values = parse_pdh_csv(_csv("Contoso & Co"))
    site = _site(SiteRecord(name="Contoso & Co", id=2, bindings="", state=RuntimeStatus.STARTED), values, 0)
    assert site.method_counts == {"GET": 6, "POST": 3}  # counters typeperf did not sample are left out
    snap = HostSnapshot(server_state=RuntimeStatus.STARTED, taken_at=0.0, sites={site.name: site}, pools={})
    metrics = parse(render_metrics(snap, {}, Monitor(object())).decode())
    requests = {labels["method"]: v for labels, v in metrics.samples["windows_iis_requests_total"]}
    assert (requests["GET"], requests["POST"], requests["other"], requests["PUT"]) == (6, 3, 1, 0)
