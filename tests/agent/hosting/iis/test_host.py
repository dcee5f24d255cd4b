"""IisHost against recorded fakes of appcmd.exe, sc.exe and typeperf.exe: status, actions, errors, snapshot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis import IisHost, IisTools, iis_config_path, require_windows
from agent.settings import SettingsError
from shared.errors import NotFound, ServerError, ServiceUnavailable

from .conftest import FakeMachine, tools


async def test_status_comes_from_one_listing_per_refresh(host: IisHost, machine: FakeMachine) -> None:
    await host.refresh(force=True)
    assert host.site_status("Default Web Site") == RuntimeStatus.STARTED
    assert host.site_status("contoso & co") == RuntimeStatus.STOPPED  # names are case-insensitive, as in IIS
    assert host.pool_status("DefaultAppPool") == RuntimeStatus.STARTED
    assert host.pool_status("ContosoPool") == RuntimeStatus.STOPPED
    assert host.pool_status("NoSuchPool") == RuntimeStatus.UNKNOWN
    assert host.server_status() == RuntimeStatus.STARTED
    for _ in range(50):  # a list endpoint asking about every pool spawns nothing more
        host.pool_status("DefaultAppPool")
    await host.refresh()  # still fresh: no new listing
    calls = machine.calls("appcmd")
    assert calls.count(["list", "apppool", "/xml"]) == 1
    assert sorted(calls) == sorted([["list", "site", "/xml"], ["list", "apppool", "/xml"], ["list", "wp", "/xml"],
                                    ["list", "request", "/xml"]])  # fmt: skip
    assert machine.calls("sc") == [["query", "W3SVC"]]


async def test_pool_actions_send_the_exact_argv_and_round_trip(host: IisHost, machine: FakeMachine) -> None:
    await host.refresh(force=True)
    machine.clear_calls()
    await host.stop_pool("defaultapppool")
    assert ["stop", "apppool", "/apppool.name:DefaultAppPool"] in machine.calls("appcmd")
    assert host.pool_status("DefaultAppPool") == RuntimeStatus.STOPPED
    await host.start_pool("DefaultAppPool")
    assert ["start", "apppool", "/apppool.name:DefaultAppPool"] in machine.calls("appcmd")
    assert host.pool_status("DefaultAppPool") == RuntimeStatus.STARTED
    before = {w.pid for w in host.state.workers}
    await host.recycle_pool(".NET v4.5 Classic")
    assert ["recycle", "apppool", "/apppool.name:.NET v4.5 Classic"] in machine.calls("appcmd")
    assert {w.pid for w in host.state.workers} != before  # WAS started a new worker


async def test_site_actions_pass_a_name_with_spaces_as_one_argument(host: IisHost, machine: FakeMachine) -> None:
    await host.start_site("Contoso & Co")
    assert ["start", "site", "/site.name:Contoso & Co"] in machine.calls("appcmd")
    assert host.site_status("Contoso & Co") == RuntimeStatus.STARTED
    await host.stop_site("Default Web Site")
    assert ["stop", "site", "/site.name:Default Web Site"] in machine.calls("appcmd")
    assert host.site_status("Default Web Site") == RuntimeStatus.STOPPED


async def test_unknown_names_are_404_after_a_fresh_look(host: IisHost, machine: FakeMachine) -> None:
    with pytest.raises(NotFound):
        await host.start_pool("NoSuchPool")
    assert not [c for c in machine.calls("appcmd") if c[0] == "start"]
    machine.update(pools=[*machine.read()["pools"], {"name": "NewPool", "state": "Stopped"}])
    await host.start_pool("NewPool")  # created in the config a moment ago: a forced refresh finds it
    assert host.pool_status("NewPool") == RuntimeStatus.STARTED


async def test_a_failing_appcmd_is_a_server_error_with_its_message(host: IisHost) -> None:
    with pytest.raises(ServerError) as info:
        await host.recycle_pool("ContosoPool")  # a stopped pool cannot be recycled
    assert info.value.status == 500
    assert info.value.detail == ("appcmd recycle application pool 'ContosoPool' failed: "
                                 "Command execution failed. The service has not been started.")  # fmt: skip


async def test_server_stop_and_start_drive_w3svc_through_sc(host: IisHost, machine: FakeMachine) -> None:
    await host.stop_server()
    sc = machine.calls("sc")
    assert sc[0] == ["stop", "W3SVC"] and sc[1:3] == [["query", "W3SVC"], ["query", "W3SVC"]]  # waited out STOP_PENDING
    assert host.server_status() == RuntimeStatus.STOPPED
    machine.clear_calls()
    await host.start_server()
    assert machine.calls("sc")[0] == ["start", "W3SVC"]
    assert host.server_status() == RuntimeStatus.STARTED
    await host.start_server()  # already running (sc exit 1056) is not an error
    assert host.server_status() == RuntimeStatus.STARTED


async def test_a_hung_tool_times_out_with_a_clear_503(machine: FakeMachine) -> None:
    machine.update(hang=["appcmd"])
    host = IisHost(object(), tools(timeout=1.0))
    with pytest.raises(ServiceUnavailable) as info:
        await host.refresh(force=True)
    assert info.value.status == 503
    assert info.value.detail == "appcmd did not answer within 1 s."
    assert host.site_status("Default Web Site") == RuntimeStatus.UNKNOWN


async def test_a_missing_tool_is_503(machine: FakeMachine, tmp_path: Path) -> None:
    host = IisHost(object(), IisTools(appcmd=tmp_path / "appcmd.exe", sc=tmp_path / "sc.exe", timeout=5.0))
    with pytest.raises(ServiceUnavailable, match="Cannot run appcmd.exe"):
        await host.refresh(force=True)


async def test_snapshot_joins_listings_and_counters(host: IisHost) -> None:
    await host.refresh(force=True)
    await host.sample_counters(force=True)
    snap = host.snapshot()
    assert snap is not None and snap.server_state == RuntimeStatus.STARTED
    site = snap.sites["Default Web Site"]
    assert (site.id, site.bytes_sent, site.bytes_received, site.connections_current) == (1, 5120, 2048, 3)
    assert (site.requests_total, site.requests_active, site.status_counts) == (40, 1, {404: 2})
    assert site.connections_total + site.connections_refused == 41  # IIS's "Total Connection Attempts"
    pool = snap.pools["DefaultAppPool"]
    assert (pool.recycles, pool.worker_starts, pool.requests_total) == (2, 3, 40)
    (worker,) = pool.workers
    assert (worker.pid, worker.requests_total, worker.requests_active) == (3920, 40, 1)
    (request,) = worker.requests
    assert (request.id, request.site, request.pool, request.method, request.elapsed_ms) == (
        0xFB0000008000000E, "Default Web Site", "DefaultAppPool", "GET", 4276)  # fmt: skip
    assert snap.pools[".NET v4.5 Classic"].recent_crashes == 1
    assert snap.pools["ContosoPool"].workers == ()


async def test_lifecycle_polls_and_stops(machine: FakeMachine) -> None:
    host = IisHost(object(), tools(), status_ttl=0.0, poll_interval=0.05)
    await host.start()
    assert host.pool_status("DefaultAppPool") == RuntimeStatus.STARTED
    assert machine.calls("typeperf")[0][:2] == ["-sc", "1"]
    assert "\\Web Service(*)\\Total Bytes Sent" in machine.calls("typeperf")[0]
    await host.close()


def test_the_iis_backend_needs_windows() -> None:
    with pytest.raises(SettingsError, match='iisfleet.host_backend: "iis"'):
        require_windows("linux")
    require_windows("win32")
    env = {"WINDIR": "C:\\Windows"}
    assert iis_config_path(env).parts[-4:] == ("System32", "inetsrv", "config", "applicationHost.config")
    assert "Sysnative" in iis_config_path({**env, "PROCESSOR_ARCHITEW6432": "AMD64"}).parts


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the refusal is for every other OS")
def test_build_app_refuses_the_iis_backend_off_windows(tmp_path: Path) -> None:
    from agent.app import build_app
    from agent.settings import load_settings

    settings = load_settings(tmp_path / "appsettings.json")
    settings.iisfleet.host_backend = "iis"
    with pytest.raises(SettingsError, match="needs Windows"):
        build_app(tmp_path, settings, address="127.0.0.1")
    assert not (tmp_path / "applicationHost.config").exists()  # refused before touching any config
