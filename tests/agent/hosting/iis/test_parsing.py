"""Parsers of the tools' recorded output: appcmd /xml, sc query and typeperf's PDH-CSV."""

from __future__ import annotations

import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.appcmd import parse_pools, parse_requests, parse_sites, parse_workers
from agent.hosting.iis.counters import WAS, WEB, parse_pdh_csv
from agent.hosting.iis.service import parse_query
from shared.errors import ServerError

from .conftest import RECORDED


def _recorded(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def test_sites_and_pools_from_recorded_xml() -> None:
    sites = parse_sites(_recorded("list-site.xml"))
    assert [(s.name, s.id, s.state) for s in sites] == [
        ("Default Web Site", 1, RuntimeStatus.STARTED), ("Contoso & Co", 2, RuntimeStatus.STOPPED)]  # fmt: skip
    assert sites[1].bindings == "http/*:8080:contoso.com,https/*:443:contoso.com"
    pools = parse_pools(_recorded("list-apppool.xml"))
    assert [(p.name, p.state, p.pipeline_mode) for p in pools] == [
        ("DefaultAppPool", RuntimeStatus.STARTED, "Integrated"),
        (".NET v4.5 Classic", RuntimeStatus.STARTED, "Classic"),
        ("ContosoPool", RuntimeStatus.STOPPED, "Integrated"),
    ]


def test_workers_and_requests_from_recorded_xml() -> None:
    workers = parse_workers(_recorded("list-wp.xml"))
    assert [(w.pid, w.pool) for w in workers] == [(3920, "DefaultAppPool"), (4012, ".NET v4.5 Classic")]
    (req,) = parse_requests(_recorded("list-request.xml"))
    assert (req.id, req.pid, req.site_id, req.verb, req.url, req.client, req.elapsed_ms, req.stage) == (
        "fb0000008000000e", 3920, 1, "GET", "/wait.aspx?time=10000", "::1", 4276, "ExecuteRequestHandler")  # fmt: skip


def test_unknown_state_and_bad_xml() -> None:
    xml = '<appcmd><APPPOOL APPPOOL.NAME="p" state="Weird"/><APPPOOL APPPOOL.NAME="q"/></appcmd>'
    assert [p.state for p in parse_pools(xml)] == [RuntimeStatus.UNKNOWN, RuntimeStatus.UNKNOWN]
    with pytest.raises(ServerError, match="unreadable XML"):
        parse_sites('ERROR ( message:Cannot find SITE object with identifier "x". )')
    assert parse_workers('<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n</appcmd>\n') == []


def test_sc_query_state_number() -> None:
    text = _recorded("sc-query-running.txt")
    assert parse_query(text) == RuntimeStatus.STARTED
    assert parse_query(text.replace("4  RUNNING", "1  STOPPED")) == RuntimeStatus.STOPPED
    assert parse_query(text.replace("4  RUNNING", "2  START_PENDING")) == RuntimeStatus.STARTING
    assert parse_query("[SC] OpenService FAILED 1060:") == RuntimeStatus.UNKNOWN


def test_typeperf_csv_into_objects_and_instances() -> None:
    values = parse_pdh_csv(_recorded("typeperf.csv"))
    assert set(values.instances(WEB)) == {"Default Web Site", "Contoso & Co"}  # _Total left out
    assert values.count(WEB, "Default Web Site", "Total Bytes Sent") == 5120
    assert values.count(WEB, "Default Web Site", "Total Connection Attempts (all instances)") == 41
    assert values.count(WAS, ".NET v4.5 Classic", "Recent Worker Process Failures") == 1
    assert values.pool_state("DefaultAppPool") == RuntimeStatus.STARTED
    assert values.pool_state("ContosoPool") == RuntimeStatus.STOPPED
    workers = values.workers()
    assert workers[3920] == ("DefaultAppPool", {"total http requests served": 40.0, "active requests": 1.0})
    assert workers[4012][0] == ".NET v4.5 Classic"
    assert 5000 not in workers  # its only cell was blank: no data this sample
    assert parse_pdh_csv("Error: No valid counters.\r\n").values == {}
