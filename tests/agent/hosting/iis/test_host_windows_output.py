"""IisHost over fakes that print the recorded real-world output: localized, duplicated, failing, non-ASCII."""

from __future__ import annotations

import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis import IisHost
from shared.errors import Locked, NotFound, ServerError

from .conftest import FakeMachine


async def test_a_localized_sc_gives_stopped_and_started(host: IisHost, machine: FakeMachine) -> None:
    machine.update(sc_locale="pt-BR")
    await host.refresh(force=True)
    assert host.server_status() == RuntimeStatus.STARTED  # `ESTADO : 4  RUNNING`
    await host.stop_server()  # no 500: the settled state is read from the Portuguese output
    assert host.server_status() == RuntimeStatus.STOPPED  # `ESTADO : 1  STOPPED`
    await host.start_server()
    assert host.server_status() == RuntimeStatus.STARTED


async def test_a_duplicate_instance_gives_the_newest_numbers(host: IisHost, machine: FakeMachine) -> None:
    machine.update(typeperf_csv="typeperf-duplicates.csv")
    await host.refresh(force=True)
    await host.sample_counters(force=True)
    snap = host.snapshot()
    assert snap is not None
    assert set(snap.sites) == {"Default Web Site", "Contoso & Co"}
    assert (snap.sites["Default Web Site"].bytes_sent, snap.sites["Default Web Site"].requests_total) == (5120, 40)
    assert snap.sites["Contoso & Co"].bytes_sent == 220  # `#10`, not `#9`
    pool = snap.pools["DefaultAppPool"]
    assert (pool.recycles, pool.requests_total) == (2, 40)  # per-pool totals land on the real pool
    assert pool.workers[0].requests_total == 40
    assert "DefaultAppPool#1" not in snap.pools


async def test_appcmd_failures_get_upstream_statuses_with_the_whole_reason(host: IisHost, machine: FakeMachine) -> None:
    await host.refresh(force=True)
    await host.start_pool("DefaultAppPool")  # already started: success, as asked
    await host.stop_pool("ContosoPool")  # already stopped: success
    await host.start_site("Default Web Site")
    assert host.pool_status("DefaultAppPool") == RuntimeStatus.STARTED
    assert host.pool_status("ContosoPool") == RuntimeStatus.STOPPED

    machine.update(locked=["DefaultAppPool"])
    with pytest.raises(Locked) as locked:
        await host.stop_pool("DefaultAppPool")
    assert locked.value.status == 403 and locked.value.detail is not None
    assert locked.value.detail.endswith("Command execution failed. The process cannot access the file because "
                                        "another process has locked a portion of the file.")  # fmt: skip

    with pytest.raises(ServerError) as failed:
        await host.recycle_pool("ContosoPool")
    assert failed.value.status == 500
    assert failed.value.detail is not None and failed.value.detail.endswith("The service has not been started.")

    # Deleted behind the cache's back: appcmd's own "Cannot find" is a 404, not a 500.
    await host.refresh(force=True)
    machine.update(pools=[p for p in machine.read()["pools"] if p["name"] != "ContosoPool"])
    with pytest.raises(NotFound) as missing:
        await host.start_pool("ContosoPool")
    assert missing.value.status == 404
    assert missing.value.detail is not None and 'Cannot find APPPOOL object with identifier "ContosoPool".' in (
        missing.value.detail)  # fmt: skip


async def test_no_request_monitor_is_reported_not_installed(host: IisHost, machine: FakeMachine) -> None:
    await host.refresh(force=True)
    assert host.request_monitor_installed is True
    machine.update(request_monitor=False)
    await host.refresh(force=True)  # the listing's failure does not fail the refresh
    assert host.request_monitor_installed is False
    assert host.state.requests == [] and host.pool_status("DefaultAppPool") == RuntimeStatus.STARTED


async def test_counters_are_asked_for_in_the_display_language(host: IisHost, machine: FakeMachine) -> None:
    machine.update(perflib="pt-BR", typeperf_csv="typeperf-pt-BR.cp850.csv")
    await host.refresh(force=True)
    await host.sample_counters(force=True)
    argv = machine.calls("typeperf")[-1]
    assert "\\Serviço Web(*)\\Total de Bytes Enviados" in argv
    assert "\\APP_POOL_WAS(*)\\Estado Atual do Pool de Aplicativos" in argv
    assert not [a for a in argv if a.startswith("\\Web Service(")]
    snap = host.snapshot()
    assert snap is not None and snap.sites["Default Web Site"].bytes_sent == 5120


async def test_the_counter_map_is_cached_until_the_counter_set_changes(host: IisHost, machine: FakeMachine) -> None:
    host.perflib.recheck = 0.0  # look at Last Counter before every sample
    for _ in range(3):
        await host.sample_counters(force=True)
    tables = [c for c in machine.calls("reg") if c[-1] == "Counter"]
    assert len(tables) == 2 and host.perflib.loads == 1  # 009 and CurrentLanguage, read once
    assert len([c for c in machine.calls("reg") if c[-1] == "Last Counter"]) == 3
    machine.update(last_counter=0x2460)  # a provider was installed: new indices
    await host.sample_counters(force=True)
    assert host.perflib.loads == 2


async def test_without_perflib_counters_are_asked_in_english(host: IisHost, machine: FakeMachine) -> None:
    machine.update(perflib="missing")
    await host.sample_counters(force=True)
    assert "\\Web Service(*)\\Total Bytes Sent" in machine.calls("typeperf")[-1]
    assert host.counters.count("Web Service", "Default Web Site", "Total Bytes Sent") == 5120


async def test_a_site_with_accents_printed_in_the_oem_code_page(host: IisHost, machine: FakeMachine) -> None:
    machine.update(list_site_file="list-site-nonascii.cp850.xml")
    await host.refresh(force=True)
    assert host.site_status("Loja São João") == RuntimeStatus.STARTED
    assert host.site_status("café") == RuntimeStatus.STOPPED
