"""Connection handoff, driven through the real supervisor (EmbeddedHost) with test-double workers.

The workers are real processes (handoff_worker.py) started through the normal spawn path: they get the control
socket as a real worker would, and speak handoff_wire on it. Default Web Site's root application is in
DefaultAppPool; /other is an application in OtherPool, whose workers never say hello (they stay on the relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.hosting.embedded import handoff_wire as wire
from agent.hosting.embedded.supervisor import handoff
from agent.hosting.embedded.supervisor.host import EmbeddedHost
from agent.hosting.embedded.supervisor.launch import PROJECT_ROOT, ChildProcess, Launcher
from agent.hosting.embedded.supervisor.worker_process import WorkerProcess
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import POOLS, SITES, alive, edit, free_port, loopback, make_store

SITE = "Default Web Site"
POOL = "DefaultAppPool"
OTHER = "OtherPool"

pytestmark = pytest.mark.timeout(60)


class DoubleLauncher(Launcher):
    """Starts handoff_worker.py; workers of `hello_pools` announce handoff support."""

    def __init__(self, hello_pools: set[str]) -> None:
        super().__init__(use_zygote=False)
        self.hello_pools = hello_pools

    async def launch(self, pool: str, config: Path, listener: socket.socket, control: socket.socket) -> ChildProcess:
        args = ["--fd", str(listener.fileno()), "--control", str(control.fileno())]
        args += ["--hello"] if pool in self.hello_pools else []
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.agent.hosting.handoff_worker", *args, cwd=PROJECT_ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            pass_fds=(listener.fileno(), control.fileno()), start_new_session=True,
        )  # fmt: skip


@dataclass
class Hosted:
    host: EmbeddedHost
    store: ConfigStore
    address: str
    port: int

    def site(self) -> object:
        return self.host.snapshot().sites[SITE]

    def workers(self, pool: str = POOL) -> list[WorkerProcess]:
        return self.host.pools[pool.lower()].workers

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.address, self.port)


def _add_other_app(cfg: ConfigStore, physical: Path) -> None:
    cfg.section(POOLS).collection().add(name=OTHER)
    site = cfg.section(SITES).collection().find(name=SITE)
    assert site is not None
    app = site.collection().add(path="/other", applicationPool=OTHER)
    app.collection().add(path="/", physicalPath=str(physical))


@contextlib.asynccontextmanager
async def run_host(tmp_path: Path, hello_pools: set[str]) -> AsyncIterator[Hosted]:
    address = loopback()
    port = free_port(address)
    store = make_store(tmp_path, port)
    (tmp_path / "other").mkdir()
    edit(store, lambda cfg: _add_other_app(cfg, tmp_path / "other"))
    host = EmbeddedHost(store, tmp_path, address, poll_interval=0.2)
    host.launcher = DoubleLauncher(hello_pools)
    await host.start()
    hosted = Hosted(host, store, address, port)
    pids: set[int] = set()
    try:
        yield hosted
    finally:
        pids.update(w.pid for p in host.pools.values() for w in p.workers + p.retiring)
        await host.close()
        assert not [pid for pid in pids if alive(pid)], "a worker outlived the host"


@pytest.fixture
async def hosted(tmp_path: Path) -> AsyncIterator[Hosted]:
    async with run_host(tmp_path, {POOL}) as running:
        yield running


async def wait_for(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the supervisor
            await asyncio.sleep(0.02)


def request(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: example", "User-Agent: test agent", *extra, "", ""]).encode()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """One whole response (these answers all have a Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def warm(hosted: Hosted, pool: str = POOL) -> None:
    """Start the pool's worker (its first request is relayed: no worker was running) and wait for its hello."""
    path = "/other/warm" if pool == OTHER else "/warm"
    reader, writer = await hosted.open()
    writer.write(request(path, "Connection: close"))
    assert (await answer(reader)).endswith(b"relay")
    writer.close()
    await wait_for(lambda: bool(hosted.workers(pool)) and all(
        w.channel is not None and (w.channel.supported or pool == OTHER) for w in hosted.workers(pool)))  # fmt: skip
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def log_rows(hosted: Hosted) -> list[dict[str, str]]:
    hosted.host.flush_logs()
    [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    lines = log_file.read_text().splitlines()
    fields = next(line for line in lines if line.startswith("#Fields: ")).removeprefix("#Fields: ").split()
    return [dict(zip(fields, line.split(), strict=True)) for line in lines if not line.startswith("#")]


async def test_handed_off_requests_are_counted_and_logged_exactly(hosted: Hosted) -> None:
    await warm(hosted)
    before = hosted.host.snapshot().sites[SITE]
    reader, writer = await hosted.open()
    client_ip = writer.get_extra_info("sockname")[0]
    sent = received = 0
    try:
        for path in ("/a", "/b?x=1"):
            data = request(path)
            writer.write(data)
            got = await answer(reader)
            assert got.endswith(f"handed {path.partition('?')[0]}".encode())  # the worker, not the relay
            sent, received = sent + len(data), received + len(got)
            # The client has the answer: the counters already hold it (the record left before the last byte).
            site = hosted.host.snapshot().sites[SITE]
            assert (site.bytes_sent - before.bytes_sent, site.bytes_received - before.bytes_received) == (
                received, sent)  # fmt: skip
            assert site.requests_total - before.requests_total == (2 if path != "/a" else 1)
            assert site.requests_active == 0 and site.connections_current == 1
        data = request("/c", "Connection: close")
        writer.write(data)
        got = await answer(reader)
        assert await reader.read() == b""  # the worker closed it
        sent, received = sent + len(data), received + len(got)
    finally:
        await close(writer)
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
    site = hosted.host.snapshot().sites[SITE]
    assert site.requests_total - before.requests_total == 3
    assert (site.bytes_sent - before.bytes_sent, site.bytes_received - before.bytes_received) == (received, sent)
    assert site.status_counts == {200: 4} and site.method_counts.get("GET") == 4
    assert site.connections_total == 2
    rows = log_rows(hosted)
    assert [(r["cs-uri-stem"], r["cs-uri-query"], r["sc-status"]) for r in rows] == [
        ("/warm", "-", "200"), ("/a", "-", "200"), ("/b", "x=1", "200"), ("/c", "-", "200"),
    ]  # fmt: skip
    assert {r["cs(User-Agent)"] for r in rows} == {"test+agent"}
    assert {r["c-ip"] for r in rows} == {client_ip} and {r["s-ip"] for r in rows} == {hosted.address}


async def test_a_handback_with_pipelined_requests_is_served_by_the_supervisor(hosted: Hosted) -> None:
    await warm(hosted)
    await warm(hosted, OTHER)
    reader, writer = await hosted.open()
    try:
        # One write: the handoff carries all three; the worker answers /a, hands /other/x and /b back.
        writer.write(request("/a") + request("/other/x") + request("/b"))
        assert (await answer(reader)).endswith(b"handed /a")
        assert (await answer(reader)).endswith(b"relay")  # OtherPool's worker, through the supervisor
        assert (await answer(reader)).endswith(b"handed /b")  # handed off again after the relayed request
        site = hosted.host.snapshot().sites[SITE]
        assert site.requests_total == 5 and site.requests_active == 0 and site.connections_current == 1
    finally:
        await close(writer)
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
    assert [r["cs-uri-stem"] for r in log_rows(hosted)][2:] == ["/a", "/other/x", "/b"]


async def test_a_recycle_drains_idle_connections_back_to_the_supervisor(hosted: Hosted) -> None:
    await warm(hosted)
    [old] = hosted.workers()
    reader, writer = await hosted.open()
    try:
        writer.write(request("/a"))
        assert (await answer(reader)).endswith(b"handed /a")
        assert old.channel is not None and len(old.channel.entries) == 1
        await hosted.host.recycle_pool(POOL)
        await wait_for(lambda: old.pid not in [w.pid for w in hosted.workers()] and not alive(old.pid))
        [fresh] = hosted.workers()
        await wait_for(lambda: fresh.channel is not None and fresh.channel.supported)
        # The idle connection came back before the old worker exited, and lives on: its next request goes
        # through the relay (the first after a handback always does), the one after that to the new worker.
        writer.write(request("/b"))
        assert (await answer(reader)).endswith(b"relay")
        writer.write(request("/c"))
        assert (await answer(reader)).endswith(b"handed /c")
        assert fresh.channel is not None and len(fresh.channel.entries) == 1
        site = hosted.host.snapshot().sites[SITE]
        assert site.connections_current == 1 and site.requests_total == 4
    finally:
        await close(writer)


async def test_a_recycle_stops_a_worker_holding_no_connection_at_once(hosted: Hosted) -> None:
    # The drain waits for handed-off connections to come back; with none held it must not wait at all
    # (the pool's shutdown time limit is 90 s, so a wait on the `empty` event would show here).
    await warm(hosted)
    [old] = hosted.workers()
    assert old.channel is not None and not old.channel.entries and old.channel.empty.is_set()
    assert hosted.host.pools[POOL.lower()].spec.shutdown_time_limit >= 60
    await hosted.host.recycle_pool(POOL)
    await wait_for(lambda: not alive(old.pid), limit=10)


async def test_a_first_request_handed_straight_back_is_counted_once(
    hosted: Hosted, monkeypatch: pytest.MonkeyPatch
) -> None:
    handbacks: list[bool] = []
    release = handoff.release
    monkeypatch.setattr(handoff, "release", lambda entry, *, handed_back: (
        handbacks.append(handed_back), release(entry, handed_back=handed_back)))  # fmt: skip
    await warm(hosted)
    [worker] = hosted.workers()
    assert worker.channel is not None and worker.channel.sock is not None
    # The race of a drain with a handoff on its way: the worker drains, the supervisor does not know yet.
    wire.send(worker.channel.sock, wire.Drain())
    reader, writer = await hosted.open()
    try:
        data = request("/a")
        writer.write(data)
        got = await answer(reader)
        assert got.endswith(b"relay")  # handed back with its head, then served by the supervisor
        assert handbacks == [True]
        site = hosted.host.snapshot().sites[SITE]
        assert (site.requests_total, site.requests_active, site.method_counts["GET"]) == (2, 0, 2)
        assert site.connections_current == 1 and site.connections_total == 2
        assert hosted.host.pools[POOL.lower()].requests_total == 2
    finally:
        await close(writer)
    assert [r["cs-uri-stem"] for r in log_rows(hosted)] == ["/warm", "/a"]


async def test_max_connections_counts_handed_off_connections(hosted: Hosted) -> None:
    edit(hosted.store, lambda c: c.section(SITES).collection().find(name=SITE).child("limits").set(
        "maxConnections", 1))  # fmt: skip
    await hosted.host.tick()
    await warm(hosted)
    reader, writer = await hosted.open()
    try:
        writer.write(request("/a"))
        assert (await answer(reader)).endswith(b"handed /a")  # the supervisor holds no socket of it now
        second_reader, second = await hosted.open()
        second.write(request("/b"))
        assert (await answer(second_reader)).startswith(b"HTTP/1.1 503 ")
        await close(second)
        site = hosted.host.snapshot().sites[SITE]
        assert site.connections_current == 1 and site.connections_refused == 1
    finally:
        await close(writer)
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)


async def test_a_dead_worker_releases_its_connections_slots(hosted: Hosted) -> None:
    await warm(hosted)
    [worker] = hosted.workers()
    reader, writer = await hosted.open()
    try:
        writer.write(request("/a"))
        assert (await answer(reader)).endswith(b"handed /a")
        assert hosted.host.snapshot().sites[SITE].connections_current == 1
        os.kill(worker.pid, signal.SIGKILL)
        await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
        with contextlib.suppress(ConnectionError):
            assert await reader.read() == b""  # died with the worker
    finally:
        await close(writer)


async def test_a_site_stop_closes_its_handed_off_connections(hosted: Hosted) -> None:
    await warm(hosted)
    reader, writer = await hosted.open()
    try:
        writer.write(request("/a"))
        assert (await answer(reader)).endswith(b"handed /a")
        await hosted.host.stop_site(SITE)
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
    finally:
        await close(writer)


async def test_the_switch_keeps_every_connection_on_the_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IISFLEET_CONNECTION_HANDOFF", "0")
    async with run_host(tmp_path, {POOL}) as hosted:
        await warm(hosted)
        reader, writer = await hosted.open()
        try:
            for path in ("/a", "/b"):
                writer.write(request(path))
                assert (await answer(reader)).endswith(b"relay")
        finally:
            await close(writer)


async def test_a_worker_that_does_not_say_hello_keeps_the_relay(tmp_path: Path) -> None:
    async with run_host(tmp_path, set()) as hosted:
        await warm(hosted, OTHER)  # waits for a worker, not for a hello
        reader, writer = await hosted.open()
        try:
            for path in ("/a", "/b", "/a"):
                writer.write(request(path))
                assert (await answer(reader)).endswith(b"relay")
            assert not hosted.workers()[0].channel.supported  # type: ignore[union-attr]
        finally:
            await close(writer)
