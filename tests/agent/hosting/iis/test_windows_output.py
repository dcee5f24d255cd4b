"""Parsers over the recordings of what real Windows servers print: one test per failure mode of issue 16."""

from __future__ import annotations

import json

import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.appcmd import parse_requests, parse_sites, status_of
from agent.hosting.iis.appcmd_errors import Failure, classify, parse_error
from agent.hosting.iis.codepage import codec_for, decode
from agent.hosting.iis.counters import COUNTERS, WAS, WEB, merge_duplicates, parse_pdh_csv
from agent.hosting.iis.perflib import CounterIndex, parse_counter_table, parse_dword
from agent.hosting.iis.runner import ToolOutput, tool_message
from agent.hosting.iis.service import error_code, parse_query

from .conftest import RECORDED


def _text(name: str, codepage: str = "cp850") -> str:
    return decode((RECORDED / name).read_bytes(), codepage)


@pytest.mark.parametrize(("name", "state"), [("sc-query-pt-BR-stopped.cp850.txt", RuntimeStatus.STOPPED),
                                             ("sc-query-pt-BR-running.cp850.txt", RuntimeStatus.STARTED)])  # fmt: skip
def test_sc_state_does_not_depend_on_the_display_language(name: str, state: RuntimeStatus) -> None:
    text = _text(name)
    assert "ESTADO" in text and "NOME_DO_SERVIÇO" in text  # decoded with the OEM code page
    assert parse_query(text) == state
    assert parse_query("        TIPO : 20  WIN32_SHARE_PROCESS\n") == RuntimeStatus.UNKNOWN  # no state line
    assert parse_query("ESTADO : 4  STOPPED") == RuntimeStatus.UNKNOWN  # number and constant must agree
    assert error_code("[SC] StartService FALHA 1056:\r\n\r\nJá existe uma instância do serviço.", 1) == 1056


def test_appcmd_state_attribute_values() -> None:
    assert [status_of(v) for v in ("Started", "Stopped", "Starting", "Stopping", "Unknown", "")] == [
        RuntimeStatus.STARTED, RuntimeStatus.STOPPED, RuntimeStatus.STARTING, RuntimeStatus.STOPPING,
        RuntimeStatus.UNKNOWN, RuntimeStatus.UNKNOWN]  # fmt: skip


def test_both_appcmd_error_forms_are_parsed_whole() -> None:
    multi = parse_error(_text("appcmd-error-not-implemented.txt"))
    assert multi is not None
    assert (multi.hresult, multi.message, multi.reason) == (0x80004001, "Command execution failed.", "Not implemented")
    assert multi.text() == "Command execution failed. Not implemented"
    single = parse_error(_text("appcmd-error-not-found.txt"))
    assert single is not None and single.hresult is None
    assert single.text() == 'Cannot find APPPOOL object with identifier "NoSuchPool".'
    assert parse_error("NoSuchPool successfully stopped.") is None
    # The runner's detail keeps the reason line, not only `ERROR ( hresult:..., message:... failed.`
    output = ToolOutput(("appcmd",), 1, _text("appcmd-error-not-implemented.txt"), "")
    assert tool_message(output) == "ERROR ( hresult:80004001, message:Command execution failed. Not implemented )"


@pytest.mark.parametrize(("recording", "code", "verb", "failure"), [
    ("appcmd-error-not-found.txt", 1168, "stop", Failure.NOT_FOUND),
    ("appcmd-error-already-started.txt", 1056, "start", Failure.ALREADY),
    ("appcmd-error-already-stopped.txt", 1062, "stop", Failure.ALREADY),
    ("appcmd-error-already-stopped.txt", 1062, "recycle", Failure.OTHER),  # recycling a stopped pool fails
    ("appcmd-error-already-started.txt", 1, "stop", Failure.OTHER),  # "already running" is no answer to stop
    ("appcmd-error-locked.txt", 33, "start", Failure.LOCKED),
    ("appcmd-error-not-implemented.txt", 1, "", Failure.NOT_IMPLEMENTED),
])  # fmt: skip
def test_appcmd_failures_are_classified_by_code(recording: str, code: int, verb: str, failure: Failure) -> None:
    assert classify(parse_error(_text(recording)), code, verb) == failure
    # The exit code alone is enough: a localized message text changes nothing.
    assert classify(None, code, verb) == (failure if code != 1 else Failure.OTHER)


def test_duplicate_instances_keep_the_highest_suffix() -> None:
    values = parse_pdh_csv(_text("typeperf-duplicates.csv"))
    assert set(values.instances(WEB)) == {"Default Web Site", "Contoso & Co"}  # no `#N` site appears
    assert values.count(WEB, "Default Web Site", "Total Bytes Sent") == 5120  # #1, not the stale 100
    assert values.count(WEB, "Contoso & Co", "Total Bytes Sent") == 220  # #10 beats #9 (numerically)
    assert values.count(WAS, "DefaultAppPool", "Total Application Pool Recycles") == 2
    assert values.pool_state("DefaultAppPool") == RuntimeStatus.STARTED
    workers = values.workers()
    assert workers == {3920: ("DefaultAppPool", {"total http requests served": 40.0, "active requests": 1.0})}
    assert merge_duplicates({"a#2": {"x": 2.0}, "a": {"x": 0.0}, "b": {"x": 1.0}}) == {"a": {"x": 2.0}, "b": {"x": 1.0}}


def test_perflib_tables_from_reg_query() -> None:
    english = parse_counter_table(_text("reg-perflib-009-counter.txt"))
    localized = parse_counter_table(_text("reg-perflib-currentlanguage-pt-BR.cp850.txt"))
    assert english[2] == "System" and english[9100] == "Web Service" and localized[9100] == "Serviço Web"
    assert parse_dword(_text("reg-perflib-last-counter.txt"), "Last Counter") == 0x2458
    names = CounterIndex(english, localized).translate(COUNTERS)
    # `Total Bytes Sent` is also an FTP Service counter (8984): the one after the Web Service object wins.
    assert names[(WEB, "Total Bytes Sent")] == ("Serviço Web", "Total de Bytes Enviados")
    assert names[(WAS, "Current Application Pool State")] == ("APP_POOL_WAS", "Estado Atual do Pool de Aplicativos")
    assert names[(WAS, "Total Application Pool Recycles")] == (WAS, "Total Application Pool Recycles")
    assert CounterIndex({}, {}).translate([("Web Service", "X")]) == {("Web Service", "X"): ("Web Service", "X")}


def test_localized_typeperf_output_is_read_under_the_english_names() -> None:
    english = parse_counter_table(_text("reg-perflib-009-counter.txt"))
    localized = parse_counter_table(_text("reg-perflib-currentlanguage-pt-BR.cp850.txt"))
    names = CounterIndex(english, localized).translate(COUNTERS)
    values = parse_pdh_csv(_text("typeperf-pt-BR.cp850.csv"), names)
    assert values.count(WEB, "Loja São João", "Total Bytes Sent") == 64
    assert values.count(WEB, "Default Web Site", "Total Method Requests") == 40
    assert values.pool_state("DefaultAppPool") == RuntimeStatus.STARTED
    assert parse_pdh_csv(_text("typeperf-pt-BR.cp850.csv")).count(WEB, "Default Web Site", "Total Bytes Sent") == 0


def test_non_ascii_names_are_decoded_with_the_console_code_page() -> None:
    raw = (RECORDED / "list-site-nonascii.cp850.xml").read_bytes()
    assert "São".encode("cp850") in raw  # the recording holds the code-page bytes, not UTF-8
    sites = parse_sites(decode(raw, "cp850"))
    assert [(s.name, s.state) for s in sites] == [
        ("Loja São João", RuntimeStatus.STARTED),
        ("Café", RuntimeStatus.STOPPED),
    ]
    assert [s.name for s in parse_sites(decode(raw, "cp1252"))][1] != "Café"  # the ANSI code page mangles it
    assert decode("Café".encode(), "cp850") == "Café"  # UTF-8 output stays UTF-8
    assert (codec_for(850), codec_for(65001), codec_for(99999)) == ("cp850", "utf-8", "cp437")


def test_requests_in_the_real_casing() -> None:
    (req,) = parse_requests(_text("list-request.xml"))
    assert (req.url, req.verb, req.client, req.pool, req.elapsed_ms) == (
        "/wait.aspx?time=10000", "GET", "::1", "DefaultAppPool", 4276)  # fmt: skip


def test_every_recording_has_its_provenance() -> None:
    index = json.loads((RECORDED / "PROVENANCE.json").read_text(encoding="utf-8"))["files"]
    on_disk = {p.name for p in RECORDED.iterdir() if p.name not in ("README.md", "PROVENANCE.json")}
    assert set(index) == on_disk
    for name, entry in index.items():
        assert entry["kind"] in ("real", "constructed"), name
        assert entry["tool"] and entry["basis"] and entry["encoding"], name
        if entry["kind"] == "real":
            assert entry["source"].startswith("https://"), name
        (RECORDED / name).read_bytes().decode(entry["encoding"].replace("ascii", "utf-8"))  # says its encoding
