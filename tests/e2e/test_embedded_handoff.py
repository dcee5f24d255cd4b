"""Connection handoff end to end: the real supervisor hands keep-alive connections to real worker processes.

The supervisor's response cache is off (a worker says hello only then). That a connection left the relay is
read from the supervisor itself: its HandedOff registry holds the connection, and no listener has a
`Connection` for it. Default Web Site's root is in DefaultAppPool; /other is an application in OtherPool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.hosting.embedded.supervisor.host import EmbeddedHost
from agent.iisconfig import ConfigStore
from shared.asyncio_utils import create_task
from tests.agent.hosting.support import (
    POOLS,
    SITES,
    alive,
    edit,
    free_port,
    loopback,
    make_store,
    pool_element,
    write_files,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
SITE = "Default Web Site"
POOL = "DefaultAppPool"
FILES = {
    "index.html": b"<h1>hello</h1>",
    "big.bin": bytes(range(256)) * 800,
    "other/page.txt": b"other pool",
    "data.unknownext": b"x",
}
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Hosted:
    host: EmbeddedHost
    store: ConfigStore
    address: str
    port: int
    root: Path

    async def open(self) -> Stream:
        return await asyncio.open_connection(self.address, self.port)

    def site(self) -> object:
        return self.host.snapshot().sites[SITE]

    def relayed_connections(self) -> int:
        """Client connections the supervisor itself serves (a handed-off one is not among them)."""
        return sum(len(listener.connections) for listener in self.host.listeners.values())

    def handed_off(self) -> int:
        return len(self.host.handoffs.entries)


def _add_other_app(cfg: ConfigStore, physical: Path) -> None:
    cfg.section(POOLS).collection().add(name="OtherPool")
    site = cfg.section(SITES).collection().find(name=SITE)
    assert site is not None
    app = site.collection().add(path="/other", applicationPool="OtherPool")
    app.collection().add(path="/", physicalPath=str(physical))


@contextlib.asynccontextmanager
async def run_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, handoff: bool = True,
                   cache: bool = False) -> AsyncIterator[Hosted]:  # fmt: skip
    monkeypatch.setenv("IISFLEET_KERNEL_CACHE", "1" if cache else "0")
    monkeypatch.setenv("IISFLEET_CONNECTION_HANDOFF", "1" if handoff else "0")
    address = loopback()
    port = free_port(address)
    content = tmp_path / "www"
    write_files(content, FILES)
    store = make_store(tmp_path, port, content)
    edit(store, lambda cfg: _add_other_app(cfg, content / "other"))
    host = EmbeddedHost(store, tmp_path, address, poll_interval=0.2)
    await host.start()
    hosted = Hosted(host, store, address, port, tmp_path)
    pids: set[int] = set()
    try:
        await warm(hosted)
        yield hosted
    finally:
        pids.update(w.pid for p in host.pools.values() for w in p.workers + p.retiring)
        await host.close()
        assert not [pid for pid in pids if alive(pid)], "a worker outlived the host"


def request(path: str, *extra: str, method: str = "GET") -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: example", "User-Agent: e2e", *extra, "", ""]).encode()


async def answer(reader: asyncio.StreamReader, *, head_only: bool = False) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length")), 0)
    return head, b"" if head_only else await reader.readexactly(length)


async def wait_for(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling state the supervisor owns
            await asyncio.sleep(0.02)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def warm(hosted: Hosted) -> None:
    """Start the pool's worker (that first request is relayed) and wait for its hello when handoff is on."""
    reader, writer = await hosted.open()
    writer.write(request("/index.html", "Connection: close"))
    await answer(reader)
    await close(writer)
    workers = hosted.host.pools[POOL.lower()].workers
    if hosted.host.handoffs.enabled:
        await wait_for(lambda: bool(workers) and all(w.channel is not None and w.channel.supported for w in workers))
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)


def log_rows(hosted: Hosted) -> list[dict[str, str]]:
    hosted.host.flush_logs()
    [log_file] = (hosted.root / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    lines = log_file.read_text().splitlines()
    fields = next(line for line in lines if line.startswith("#Fields: ")).removeprefix("#Fields: ").split()
    return [dict(zip(fields, line.split(), strict=True)) for line in lines if not line.startswith("#")]


@pytest.mark.parametrize("zygote", ["1", "0"])
async def test_keep_alive_requests_are_served_by_the_worker_after_the_handoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zygote: str
) -> None:
    monkeypatch.setenv("IISFLEET_ZYGOTE", zygote)
    async with run_host(tmp_path, monkeypatch) as hosted:
        reader, writer = await hosted.open()
        for number in range(5):
            writer.write(request("/index.html"))
            head, body = await answer(reader)
            assert head.startswith(b"HTTP/1.1 200 OK") and body == FILES["index.html"]
            assert b"x-iisfleet" not in head.lower()
            # The worker holds the connection: the supervisor has no Connection for it, only its HandedOff entry.
            assert (hosted.handed_off(), hosted.relayed_connections()) == (1, 0), number
        assert hosted.host.snapshot().sites[SITE].connections_current == 1  # the slot stays counted
        await close(writer)
        await wait_for(lambda: hosted.handed_off() == 0)
        assert hosted.host.snapshot().sites[SITE].connections_current == 0


SEQUENCE = [
    request("/index.html"),
    request("/index.html?x=1&y=%20z", "Referer: http://ref.example/"),
    request("/index.html", method="HEAD"),
    request("/missing.html"),
    request("/data.unknownext"),
    request("/index.html", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"),
    request("/big.bin"),
    request("/big.bin", "Range: bytes=10-99"),
    request("/index.html", "Connection: close"),
]


async def _run_sequence(hosted: Hosted) -> list[bytes]:
    reader, writer = await hosted.open()
    heads = []
    for data in SEQUENCE:
        writer.write(data)
        head, _ = await answer(reader, head_only=data.startswith(b"HEAD"))
        heads.append(head.split(b"\r\n", 1)[0])
        if len(heads) == 1:  # the first request went to a worker with the connection, or stayed on the relay
            assert hosted.handed_off() == (1 if hosted.host.handoffs.enabled else 0)
    assert await reader.read() == b""
    await close(writer)
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
    return heads


async def test_counters_and_log_lines_equal_the_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for handoff in (True, False):
        async with run_host(tmp_path / str(handoff), monkeypatch, handoff=handoff) as hosted:
            heads = await _run_sequence(hosted)
            if handoff:
                assert hosted.host.handoffs.enabled
            snap = hosted.host.snapshot().sites[SITE]
            counters = (snap.requests_total, snap.bytes_sent, snap.bytes_received, snap.requests_active,
                        dict(snap.status_counts), dict(snap.method_counts))  # fmt: skip
            rows = [{k: v for k, v in row.items() if k not in ("date", "time", "time-taken", "s-ip", "s-port")}
                    for row in log_rows(hosted)]  # fmt: skip
            results.append((heads, counters, rows))
    handed, relayed = results
    assert handed[0] == relayed[0]
    assert [b.split(b" ")[1] for b in handed[0]] == [b"200", b"200", b"200", b"404", b"404", b"304", b"200", b"206",
                                                     b"200"]  # fmt: skip
    assert handed[1] == relayed[1]
    assert handed[2] == relayed[2]
    assert [row["sc-substatus"] for row in handed[2]][4:6] == ["0", "3"]  # warm-up row first


async def test_with_the_cache_on_workers_answer_hits_and_counters_equal_the_relay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    served: list[int] = []  # requests the workers counted
    for handoff in (True, False):
        async with run_host(tmp_path / str(handoff), monkeypatch, handoff=handoff, cache=True) as hosted:
            heads = await _run_sequence(hosted)
            heads += await _run_sequence(hosted)  # the second time round, the cacheable answers are hits
            snap = hosted.host.snapshot()
            site = snap.sites[SITE]
            counters = (site.requests_total, site.bytes_sent, site.bytes_received, site.requests_active,
                        dict(site.status_counts), dict(site.method_counts))  # fmt: skip
            assert site.cache_hits + site.cache_misses == site.requests_total
            assert site.cache_hits > 0 and snap.cache.hits == site.cache_hits
            rows = [{k: v for k, v in row.items() if k not in ("date", "time", "time-taken", "s-ip", "s-port")}
                    for row in log_rows(hosted)]  # fmt: skip
            results.append((heads, counters, rows))
            served.append(sum(w.requests_total for w in snap.pools[POOL].workers))
    handed, relayed = results
    assert handed == relayed
    assert served[0] > served[1]  # on handed-off connections the workers answered the hits themselves


async def test_a_request_for_another_pool_is_handed_back_and_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_host(tmp_path, monkeypatch) as hosted:
        reader, writer = await hosted.open()
        writer.write(request("/index.html"))
        await answer(reader)
        assert hosted.handed_off() == 1
        writer.write(request("/other/page.txt") + request("/index.html"))  # pipelined behind it
        head, body = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200") and body == FILES["other/page.txt"]
        head, body = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200") and body == FILES["index.html"]
        writer.write(request("/index.html"))
        await answer(reader)
        await wait_for(lambda: hosted.handed_off() == 1)  # back on a worker of DefaultAppPool
        await close(writer)
        await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
        snap = hosted.host.snapshot().sites[SITE]
        assert (snap.requests_total, snap.requests_active, snap.status_counts[200]) == (5, 0, 5)
        assert [row["cs-uri-stem"] for row in log_rows(hosted)] == [
            "/index.html", "/index.html", "/other/page.txt", "/index.html", "/index.html",
        ]  # fmt: skip


async def test_a_recycle_under_keep_alive_load_loses_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_host(tmp_path, monkeypatch) as hosted:
        served = failed = 0
        stop = asyncio.Event()

        async def client() -> None:
            nonlocal served, failed
            reader, writer = await hosted.open()
            try:
                while not stop.is_set():
                    writer.write(request("/index.html"))
                    try:
                        head, body = await answer(reader)
                    except (asyncio.IncompleteReadError, ConnectionError):
                        failed += 1
                        return
                    if head.startswith(b"HTTP/1.1 200") and body == FILES["index.html"]:
                        served += 1
                    else:
                        failed += 1
            finally:
                await close(writer)

        clients = [create_task(client(), name=f"client {n}") for n in range(6)]
        await wait_for(lambda: hosted.handed_off() >= 3)
        pids = {w.pid for w in hosted.host.pools[POOL.lower()].workers}
        for _ in range(2):
            await hosted.host.recycle_pool(POOL)
            await asyncio.sleep(0.5)
        await wait_for(lambda: hosted.handed_off() >= 3)  # handed to the new worker
        stop.set()
        await asyncio.gather(*clients)
        assert failed == 0 and served > 100
        assert not pids & {w.pid for w in hosted.host.pools[POOL.lower()].workers}
        await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
        assert hosted.host.snapshot().sites[SITE].requests_total == served + 1  # + the warm-up request


async def test_a_site_stop_closes_its_handed_off_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with run_host(tmp_path, monkeypatch) as hosted:
        reader, writer = await hosted.open()
        writer.write(request("/index.html"))
        await answer(reader)
        assert hosted.handed_off() == 1
        await hosted.host.stop_site(SITE)
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        await wait_for(lambda: hosted.handed_off() == 0)
        assert hosted.host.snapshot().sites[SITE].connections_current == 0
        await close(writer)


async def test_max_connections_counts_handed_off_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with run_host(tmp_path, monkeypatch) as hosted:
        site = lambda c: c.section(SITES).collection().find(name=SITE)  # noqa: E731
        edit(hosted.store, lambda c: site(c).child("limits").set("maxConnections", 1))
        await hosted.host.tick()
        await warm(hosted)  # a pool recycle may have followed the change
        first_reader, first_writer = await hosted.open()
        first_writer.write(request("/index.html"))
        await answer(first_reader)
        assert hosted.handed_off() == 1
        reader, writer = await hosted.open()
        writer.write(request("/index.html"))
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 503")
        await close(writer)
        await close(first_writer)
        await wait_for(lambda: hosted.host.snapshot().sites[SITE].connections_current == 0)
        reader, writer = await hosted.open()
        writer.write(request("/index.html"))
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
        await close(writer)


async def test_the_web_garden_grows_under_handed_off_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with run_host(tmp_path, monkeypatch) as hosted:
        edit(hosted.store, lambda c: pool_element(c, POOL).child("processModel").set("maxProcesses", 2))
        await hosted.host.tick()
        await warm(hosted)  # the change may have recycled the pool
        workers = hosted.host.pools[POOL.lower()].workers
        streams = []
        for _ in range(2):  # the second finds the only worker holding a connection: the garden grows
            reader, writer = await hosted.open()
            writer.write(request("/index.html"))
            await answer(reader)
            streams.append((reader, writer))
        # While it grows, the second connection stays on the relay (a burst would otherwise pile onto worker 1).
        assert sum(len(w.channel.entries) for w in workers if w.channel is not None) == 1
        await wait_for(
            lambda: len(workers) == 2 and all(w.channel is not None and w.channel.supported for w in workers)
        )
        reader, writer = streams[1]
        writer.write(request("/index.html"))  # its next request takes it to the new, least loaded worker
        await answer(reader)
        assert sorted(len(w.channel.entries) for w in workers if w.channel is not None) == [1, 1]
        reader, writer = await hosted.open()
        writer.write(request("/index.html"))
        await answer(reader)
        streams.append((reader, writer))
        assert sorted(len(w.channel.entries) for w in workers if w.channel is not None) == [1, 2]
        for _, writer in streams:
            await close(writer)
