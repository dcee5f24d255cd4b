"""The worker's side of the connection handoff (worker/control.py, worker/direct.py), driven as the supervisor would.

The test plays the supervisor on a real control socketpair and hands real loopback TCP connections to a real
Control over a WorkerApp on a real configuration. Default Web Site's root is in DefaultAppPool (this worker's
pool); /other is an application in OtherPool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded import handoff_wire as wire
from agent.hosting.embedded.http1 import parse_head
from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.control import Control, wanted
from agent.hosting.embedded.worker.direct import config_stamp
from agent.hosting.embedded.worker.direct_cache import DirectCache
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import POOLS, SITES, edit, free_port, loopback, make_store

Writer = asyncio.StreamWriter
SITE = "Default Web Site"
POOL = "DefaultAppPool"
pytestmark = pytest.mark.timeout(30)


@dataclass
class Rig:
    """A Control under test and the supervisor's end of its socket."""

    control: Control
    ours: socket.socket
    store: ConfigStore
    address: str
    server: socket.socket
    ids: int = 0
    pending: tuple[wire.Message, int] | None = None
    records: socket.socket | None = None  # the records socket the worker's hello passed

    def receive(self) -> tuple[wire.Message, int] | None:
        """The next message, records first (as the supervisor reads them); BlockingIOError when none."""
        if self.records is not None:
            try:
                return wire.receive(self.records)
            except BlockingIOError:
                pass
        return wire.receive(self.ours)

    def version(self) -> str:
        st = os.stat(self.store.path)
        return f"{st.st_mtime_ns}-{st.st_size}-1"

    async def hand(self, first: bytes, *, head_wait: float = 5.0) -> tuple[int, asyncio.StreamReader, Writer]:
        """A new client connection whose first bytes (`first`) the supervisor read, handed to the worker."""
        client = socket.create_connection(self.server.getsockname())
        accepted, peer = self.server.accept()
        self.ids += 1
        message = wire.Handoff(self.ids, SITE, 1, POOL, (str(peer[0]), int(peer[1])), accepted.getsockname(),
                               self.version(), head_wait, {"": SITE}, first)  # fmt: skip
        wire.send(self.ours, message, accepted.fileno())
        accepted.close()  # as the supervisor does: the worker's copy holds the connection
        reader, writer = await asyncio.open_connection(sock=client)
        return self.ids, reader, writer

    async def message(self, limit: float = 5.0) -> tuple[wire.Message, int]:
        """The worker's next control message."""
        async with asyncio.timeout(limit):
            while True:
                try:
                    received = self.receive()
                except BlockingIOError:
                    await asyncio.sleep(0.005)
                    continue
                assert received is not None
                return received

    def waiting(self) -> bool:
        """Whether a control message is already waiting (non-blocking)."""
        try:
            received = self.receive()
        except BlockingIOError:
            return False
        assert received is not None
        self.pending = received
        return True


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    address = loopback()
    content = tmp_path / "www"
    content.mkdir()
    (content / "index.html").write_text("<h1>hello</h1>")
    (content / "big.bin").write_bytes(os.urandom(200_000))
    store = make_store(tmp_path, free_port(address), content)
    (tmp_path / "other").mkdir()

    def add_other(cfg: ConfigStore) -> None:
        cfg.section(POOLS).collection().add(name="OtherPool")
        site = cfg.section(SITES).collection().find(name=SITE)
        assert site is not None
        app = site.collection().add(path="/other", applicationPool="OtherPool")
        app.collection().add(path="/", physicalPath=str(tmp_path / "other"))

    edit(store, add_other)
    ours, theirs = wire.socketpair()
    ours.setblocking(False)
    control = Control(theirs, WorkerApp(store))
    control.start(hello=True)
    server = socket.create_server((address, 0))
    rig = Rig(control, ours, store, address, server)
    hello, fd = await rig.message()
    assert isinstance(hello, wire.Hello) and fd >= 0
    rig.records = socket.socket(fileno=fd)
    rig.records.setblocking(False)
    try:
        yield rig
    finally:
        await control.close(1.0)
        server.close()
        ours.close()
        rig.records.close()


def get(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: example", "User-Agent: unit test", *extra, "", ""]).encode()


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_keep_alive_requests_are_served_and_each_record_leaves_before_its_answer(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"))
    for number in range(3):
        if number:
            writer.write(get("/big.bin" if number == 2 else "/index.html?x=1"))
        head, body = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"x-iisfleet" not in head.lower()  # internal headers never reach a client
        # The client has the whole answer, so its record is already on the control socket.
        assert rig.waiting() and rig.pending is not None, "record after the answer's last byte"
        records, fd = rig.pending
        assert isinstance(records, wire.Records) and fd == -1
        (record,) = records.rows
        request = get("/big.bin" if number == 2 else ("/index.html?x=1" if number else "/index.html"))
        assert (record.conn, record.status, record.method, record.hit) == (conn, 200, "GET", False)
        assert record.bytes_sent == len(head) + len(body)
        assert record.bytes_received == len(request)
        assert (record.user_agent, record.host) == ("unit test", "example")
        assert record.log
        assert record.uri_stem == request.split(b" ")[1].decode().partition("?")[0]
        assert record.uri_query == ("x=1" if number == 1 else "")
    assert len(body) == 200_000
    await close(writer)
    closed, _ = await rig.message()
    assert closed == wire.Closed(conn)


async def test_client_sent_internal_headers_are_stripped(rig: Rig) -> None:
    # Unstripped, the forged site would win (first value) and the worker would answer 503 "site not configured".
    _, reader, writer = await rig.hand(get("/index.html", "X-IISFleet-Site: nosuch", "X-IISFleet-Client: 10.9.9.9:1"))
    head, body = await answer(reader)
    assert head.startswith(b"HTTP/1.1 200") and body == b"<h1>hello</h1>"
    await close(writer)


async def test_a_request_for_another_pool_goes_back_with_every_unconsumed_byte(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"))
    await answer(reader)
    records, _ = await rig.message()
    assert isinstance(records, wire.Records)
    pipelined = get("/other/page.html") + get("/index.html")
    writer.write(pipelined)
    handback, fd = await rig.message()
    assert handback == wire.Handback(conn, pipelined) and fd >= 0
    # The descriptor is the client's connection: the supervisor can answer on it.
    with socket.socket(fileno=fd) as returned:
        returned.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 204 No Content\r\n\r\n"
    await close(writer)


@pytest.mark.parametrize("first", [
    b"POST /index.html HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /index.html HTTP/1.0\r\nHost: example\r\nConnection: keep-alive\r\n\r\n",
    b"GET http://example/index.html HTTP/1.1\r\nHost: example\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: example\r\nBad Header\r\n\r\n",
])  # fmt: skip
async def test_what_the_worker_does_not_serve_goes_back_untouched(rig: Rig, first: bytes) -> None:
    conn, _, writer = await rig.hand(first)
    handback, fd = await rig.message()
    assert handback == wire.Handback(conn, first) and fd >= 0
    os.close(fd)
    await close(writer)


async def test_a_changed_configuration_file_sends_the_next_request_back(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"))
    await answer(reader)
    await rig.message()
    edit(rig.store, lambda cfg: cfg.section(POOLS).collection().add(name="NewPool"))
    writer.write(get("/index.html"))
    handback, fd = await rig.message()
    assert isinstance(handback, wire.Handback) and handback.conn == conn and fd >= 0
    os.close(fd)
    await close(writer)


async def test_a_slow_head_is_cut_after_the_connection_timeout(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"), head_wait=0.3)
    await answer(reader)
    await rig.message()
    writer.write(b"GET /index.html HTTP/1.1\r\nHost: exa")  # and nothing more
    started = asyncio.get_running_loop().time()
    closed, _ = await rig.message()
    assert closed == wire.Closed(conn)
    assert await reader.read() == b""
    assert asyncio.get_running_loop().time() - started < 2
    await close(writer)


async def test_connection_close_ends_with_closed(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html", "Connection: close"))
    head, _ = await answer(reader)
    assert b"Connection: close" in head
    assert await reader.read() == b""
    records, _ = await rig.message()
    closed, _ = await rig.message()
    assert isinstance(records, wire.Records) and closed == wire.Closed(conn)
    await close(writer)


async def test_drain_hands_idle_connections_back_and_refuses_new_ones(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"))
    await answer(reader)
    await rig.message()
    writer.write(b"GET /index.html HT")  # a head on its way: not consumed, so it goes back with the connection
    await asyncio.sleep(0.05)
    wire.send(rig.ours, wire.Drain())
    handback, fd = await rig.message()
    assert handback == wire.Handback(conn, b"GET /index.html HT") and fd >= 0
    os.close(fd)
    late, _, late_writer = await rig.hand(get("/index.html"))
    handback, fd = await rig.message()
    assert handback == wire.Handback(late, get("/index.html")) and fd >= 0
    os.close(fd)
    await close(writer)
    await close(late_writer)


async def test_close_drops_the_named_connections(rig: Rig) -> None:
    conn, reader, writer = await rig.hand(get("/index.html"))
    await answer(reader)
    await rig.message()
    wire.send(rig.ours, wire.Close([conn]))
    closed, _ = await rig.message()
    assert closed == wire.Closed(conn)
    assert await reader.read() == b""
    await close(writer)


def test_a_turn_of_records_leaves_in_one_packet_before_its_answers(tmp_path: Path) -> None:
    sent: list[object] = []
    control = Control.__new__(Control)
    control._send = lambda packet, fd=-1: sent.append(packet) or True  # type: ignore[method-assign]
    control._rows, control._releases, control._batch_bytes, control._flush_scheduled = [], [], 0, True
    control._quoted, control.records = {}, None
    message = wire.Handoff(7, 'Site "ü"', 3, POOL, ("::1", 5000), ("::1", 80), "1-2-3", 1.0)
    head = parse_head(b'GET /caf%C3%A9/x?q="1" HTTP/1.1\r\nHost: h\r\nUser-Agent: a\\b\r\nCookie: c=1\r\n'
                      b"Referer: r\r\n\r\n")  # fmt: skip
    record = control.record_encoder(message)
    record(head, b"x" * 90, 404, 3, 2, 1234, 0.0, "dom\\user", False, False, lambda: sent.append("answer 1"))
    record(head, b"y" * 20, 200, 0, 0, 10, 0.0, "", True, True, lambda: sent.append("answer 2"))
    assert sent == []  # nothing leaves before the turn ends
    control.flush()
    assert isinstance(sent[0], bytes) and sent[1:] == ["answer 1", "answer 2"]
    records = wire.decode(sent[0])
    assert isinstance(records, wire.Records)
    first, second = records.rows
    assert first == wire.Record(
        7, "GET", "/café/x", 'q="1"', "h", 404, 3, 2, 1234, 90, first.time_taken_ms, "dom\\user", "a\\b", "c=1", "r",
        False, False,
    )  # fmt: skip
    assert (second.status, second.bytes_received, second.log, second.hit) == (200, 20, True, True)


def test_hello_unless_the_switch_is_off() -> None:
    assert wanted({"IISFLEET_KERNEL_CACHE": "0"})
    assert wanted({})
    assert not wanted({"IISFLEET_KERNEL_CACHE": "0", "IISFLEET_CONNECTION_HANDOFF": "0"})
    assert config_stamp("123-45-6") == (123, 45) and config_stamp("6") is None


# -- the worker's copy of the kernel response cache (worker/direct_cache.py) ---------------------------------


@pytest.fixture
async def cached(rig: Rig) -> Rig:
    """The rig's worker with its response cache on (the agent's default)."""
    rig.control.cache = DirectCache()
    return rig


async def served(rig: Rig, writer: Writer, reader: asyncio.StreamReader, request: bytes) -> tuple[bytes, bytes, bool]:
    """Send one request on a handed-off connection: (head, body, whether its record says hit)."""
    writer.write(request)
    head, body = await answer(reader)
    records, _ = await rig.message()
    assert isinstance(records, wire.Records)
    (record,) = records.rows
    assert record.bytes_sent == len(head) + len(body)
    return head, body, record.hit


def without_date(head: bytes) -> list[bytes]:
    return [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]


async def test_a_repeat_is_a_hit_with_the_same_head_and_a_fresh_date(cached: Rig) -> None:
    _, reader, writer = await cached.hand(b"")
    first = await served(cached, writer, reader, get("/index.html"))
    second = await served(cached, writer, reader, get("/index.html"))
    assert (first[2], second[2]) == (False, True)
    assert second[1] == first[1] == b"<h1>hello</h1>"
    assert without_date(second[0]) == without_date(first[0]) and b"\r\nDate: " in second[0]
    assert b"x-iisfleet" not in second[0].lower()
    writer.write(get("/index.html").replace(b"GET", b"HEAD", 1))
    head = await reader.readuntil(b"\r\n\r\n")  # a HEAD answer: the GET's head, no body
    records, _ = await cached.message()
    assert isinstance(records, wire.Records) and records.rows[0].hit
    assert without_date(head) == without_date(first[0]) and records.rows[0].bytes_sent == len(head)
    await close(writer)


async def test_a_changed_file_and_conditional_or_partial_requests_are_not_hits(cached: Rig, tmp_path: Path) -> None:
    _, reader, writer = await cached.hand(b"")
    for _ in range(2):
        *_, hit = await served(cached, writer, reader, get("/index.html"))
    assert hit
    (tmp_path / "www" / "index.html").write_text("<h1>hello again</h1>")
    _, body, hit = await served(cached, writer, reader, get("/index.html"))
    assert (body, hit) == (b"<h1>hello again</h1>", False)
    head, body, hit = await served(cached, writer, reader, get("/index.html", "Range: bytes=0-3"))
    assert head.startswith(b"HTTP/1.1 206") and (body, hit) == (b"<h1>", False)
    etag = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"etag:"))
    writer.write(get("/index.html", f"If-None-Match: {etag.decode()}"))
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 304")
    records, _ = await cached.message()
    assert isinstance(records, wire.Records) and not records.rows[0].hit
    await close(writer)


async def test_a_large_file_is_a_file_entry_checked_on_every_hit(cached: Rig, tmp_path: Path) -> None:
    big = tmp_path / "www" / "big.bin"
    _, reader, writer = await cached.hand(b"")
    first = await served(cached, writer, reader, get("/big.bin"))
    second = await served(cached, writer, reader, get("/big.bin"))
    assert (first[2], second[2]) == (False, True) and second[1] == first[1] == big.read_bytes()
    assert without_date(second[0]) == without_date(first[0])
    data = os.urandom(200_000)  # same size, new content and mtime: the stored identity no longer matches
    big.write_bytes(data)
    os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 1_000_000))
    _, body, hit = await served(cached, writer, reader, get("/big.bin"))
    assert (body == data, hit) == (True, False)
    await close(writer)


async def test_a_file_hit_the_socket_cannot_take_at_once_ends_before_the_next_answer(
    cached: Rig, tmp_path: Path
) -> None:
    data = os.urandom(16 << 20)  # far more than a loopback socket takes in one sendfile(2)
    (tmp_path / "www" / "huge.bin").write_bytes(data)
    _, reader, writer = await cached.hand(b"")
    for path in ("/huge.bin", "/index.html"):
        await served(cached, writer, reader, get(path))
    writer.write(get("/huge.bin") + get("/index.html"))  # answered in buffer_updated; the rest by a task
    await asyncio.sleep(0.2)  # the client does not read: the socket fills and the send waits
    assert (await answer(reader))[1] == data
    assert (await answer(reader))[1] == b"<h1>hello</h1>"
    rows: list[wire.Record] = []
    while len(rows) < 2:
        records, _ = await cached.message()
        assert isinstance(records, wire.Records)
        rows += records.rows
    assert [(r.uri_stem, r.hit, r.bytes_sent > len(data)) for r in rows] == [
        ("/huge.bin", True, True), ("/index.html", True, False),
    ]  # fmt: skip
    await close(writer)


async def test_pipelined_hits_keep_their_order(cached: Rig, tmp_path: Path) -> None:
    (tmp_path / "www" / "two.html").write_text("two")
    _, reader, writer = await cached.hand(b"")
    for path in ("/index.html", "/two.html", "/big.bin"):
        await served(cached, writer, reader, get(path))
    writer.write(b"".join(get(path) for path in ("/two.html", "/big.bin", "/index.html", "/two.html", "/nosuch.html")))
    bodies = [(await answer(reader))[1] for _ in range(4)]
    assert bodies == [b"two", (tmp_path / "www" / "big.bin").read_bytes(), b"<h1>hello</h1>", b"two"]
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 404")
    rows: list[wire.Record] = []
    while len(rows) < 5:
        records, _ = await cached.message()
        assert isinstance(records, wire.Records)
        rows += records.rows
    assert [(r.uri_stem, r.hit) for r in rows] == [
        ("/two.html", True), ("/big.bin", True), ("/index.html", True), ("/two.html", True), ("/nosuch.html", False),
    ]  # fmt: skip
    await close(writer)


def count_pipeline_runs(rig: Rig) -> list[str]:
    """The targets the worker's pipeline ran for from now on (WorkerApp.run, wrapped)."""
    app = rig.control.app
    original = app.run
    runs: list[str] = []

    async def counting(request: Any, **options: Any) -> Any:
        runs.append(request.raw_path)
        return await original(request, **options)

    app.run = counting  # type: ignore[method-assign]
    return runs


async def test_without_the_kernel_cache_a_repeat_skips_the_pipeline_and_reads_its_file(
    rig: Rig, tmp_path: Path
) -> None:
    cache = rig.control.cache = DirectCache(keep_bodies=False)  # IISFLEET_KERNEL_CACHE=0: the URI cache alone
    runs = count_pipeline_runs(rig)
    index = tmp_path / "www" / "index.html"
    _, reader, writer = await rig.hand(b"")
    first = await served(rig, writer, reader, get("/index.html"))
    second = await served(rig, writer, reader, get("/index.html"))
    assert second[1] == first[1] == b"<h1>hello</h1>" and without_date(second[0]) == without_date(first[0])
    assert (first[2], second[2], len(runs)) == (False, False, 1)  # not a kernel-cache hit: not counted as one
    (entry,) = cache.entries.values()
    assert entry.body == b"" and entry.dev == index.stat().st_dev  # no body is kept: it is read on every hit
    index.write_text("<h1>HELLO</h1>")  # same size, new content and mtime: the file is no longer the stored one
    os.utime(index, ns=(index.stat().st_atime_ns, index.stat().st_mtime_ns + 1_000_000))
    for _ in range(2):
        _, body, _ = await served(rig, writer, reader, get("/index.html"))
        assert body == b"<h1>HELLO</h1>"
    assert len(runs) == 2  # the pipeline answered the changed file once, then the new entry did
    writer.write(get("/index.html").replace(b"GET", b"HEAD", 1))
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"Content-Length: 14" in head and len(runs) == 2
    await rig.message()
    index.unlink()
    head, _, _ = await served(rig, writer, reader, get("/index.html"))
    assert head.startswith(b"HTTP/1.1 404") and len(runs) == 3
    await close(writer)


def _enable_rewrite(cfg: ConfigStore) -> None:
    cfg.section("system.webServer/globalModules").collection().add(name="RewriteModule", image="rewrite.dll")
    cfg.section("system.webServer/modules").collection().add(name="RewriteModule")
    rule = cfg.section("system.webServer/rewrite/rules", SITE).collection().add(name="bots")
    rule.child("match").set("url", "^index.html$")
    rule.collection("conditions").add(input="{HTTP_USER_AGENT}", pattern="^bot")
    rule.child("action").set("type", "Rewrite")
    rule.child("action").set("url", "two.html")


def _limit_user_agent(cfg: ConfigStore) -> None:
    section = cfg.section("system.webServer/security/requestFiltering", SITE)
    section.child("requestLimits").collection("headerLimits").add(header="User-Agent:", sizeLimit=12)


def _trace_every_200(cfg: ConfigStore) -> None:
    cfg.section("system.webServer/modules").collection().add(name="FailedRequestsTracingModule")
    site = cfg.section(SITES).collection().find(name=SITE)
    assert site is not None
    site.child("traceFailedRequestsLogging").set("enabled", True)
    rule = cfg.section("system.webServer/tracing/traceFailedRequests", SITE).collection().add(path="*")
    rule.child("failureDefinitions").set("statusCodes", "200")


@pytest.mark.parametrize("keep_bodies", [True, False], ids=["kernel cache", "URI cache"])
@pytest.mark.parametrize(
    ("change", "other_agent", "expected"),
    [(_enable_rewrite, "bot 1.0", b"two"), (_limit_user_agent, "a much longer agent", b"")],
    ids=["rewrite on a header", "request header limit"],
)
async def test_an_answer_that_depends_on_a_request_header_is_not_cached(
    rig: Rig, tmp_path: Path, keep_bodies: bool, change: Any, other_agent: str, expected: bytes
) -> None:
    (tmp_path / "www" / "two.html").write_text("two")
    edit(rig.store, change)
    rig.control.cache = DirectCache(keep_bodies=keep_bodies)
    _, reader, writer = await rig.hand(b"")
    for _ in range(2):
        head, body, hit = await served(rig, writer, reader, get("/index.html"))
        assert (head[:12], body, hit) == (b"HTTP/1.1 200", b"<h1>hello</h1>", False)
    writer.write(get("/index.html").replace(b"unit test", other_agent.encode()))
    head, body = await answer(reader)
    assert body == expected if expected else head.startswith(b"HTTP/1.1 404")
    assert not rig.control.cache.entries
    await close(writer)


@pytest.mark.parametrize("keep_bodies", [True, False], ids=["kernel cache", "URI cache"])
async def test_a_trace_rule_that_may_fire_on_a_200_keeps_answers_out_of_the_cache(
    rig: Rig, tmp_path: Path, keep_bodies: bool
) -> None:
    edit(rig.store, _trace_every_200)
    rig.control.cache = DirectCache(keep_bodies=keep_bodies)
    runs = count_pipeline_runs(rig)
    _, reader, writer = await rig.hand(b"")
    for _ in range(3):
        await served(rig, writer, reader, get("/index.html"))
    assert len(runs) == 3 and not rig.control.cache.entries
    assert len(list(tmp_path.rglob("fr*.xml"))) == 3, "every request traced"  # noqa: ASYNC240 - a test's check
    await close(writer)
