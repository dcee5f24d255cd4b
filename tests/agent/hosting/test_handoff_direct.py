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

import pytest

from agent.hosting.embedded import handoff_wire as wire
from agent.hosting.embedded.http1 import parse_head
from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.control import Control, wanted
from agent.hosting.embedded.worker.direct import config_stamp
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
                    received = wire.receive(self.ours)
                except BlockingIOError:
                    await asyncio.sleep(0.005)
                    continue
                assert received is not None
                return received

    def waiting(self) -> bool:
        """Whether a control message is already waiting (non-blocking)."""
        try:
            received = wire.receive(self.ours)
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
    hello, _ = await rig.message()
    assert isinstance(hello, wire.Hello)
    try:
        yield rig
    finally:
        await control.close(1.0)
        server.close()
        ours.close()


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
        record, fd = rig.pending
        assert isinstance(record, wire.Record) and fd == -1
        request = get("/big.bin" if number == 2 else ("/index.html?x=1" if number else "/index.html"))
        assert (record.conn, record.site, record.status, record.method) == (conn, SITE, 200, "GET")
        assert record.bytes_sent == len(head) + len(body)
        assert record.bytes_received == len(request)
        assert (record.user_agent, record.host, record.version) == ("unit test", "example", "HTTP/1.1")
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
    record, _ = await rig.message()
    assert isinstance(record, wire.Record)
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
    record, _ = await rig.message()
    closed, _ = await rig.message()
    assert isinstance(record, wire.Record) and closed == wire.Closed(conn)
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


def test_the_pre_encoded_record_decodes_to_the_same_record(tmp_path: Path) -> None:
    sent: list[bytes] = []
    control = Control.__new__(Control)
    control._send = lambda packet, fd=-1: sent.append(packet) or True  # type: ignore[method-assign]
    message = wire.Handoff(7, 'Site "ü"', 3, POOL, ("::1", 5000), ("::1", 80), "1-2-3", 1.0)
    head = parse_head(b'GET /caf%C3%A9/x?q="1" HTTP/1.1\r\nHost: h\r\nUser-Agent: a\\b\r\nCookie: c=1\r\n'
                      b"Referer: r\r\n\r\n")  # fmt: skip
    control.record_encoder(message)(head, b"x" * 90, 404, 3, 2, 1234, 0.0, "dom\\user", False)
    record = wire.decode(sent[0])
    assert isinstance(record, wire.Record)
    assert record == wire.Record(
        7, 'Site "ü"', "GET", "/café/x", 'q="1"', "HTTP/1.1", "h", 404, 3, 2, 1234, 90, record.time_taken_ms,
        "dom\\user", "a\\b", "c=1", "r", "::1", 5000, False,
    )  # fmt: skip


def test_hello_only_with_the_response_cache_off_and_the_switch_on() -> None:
    assert wanted({"IISFLEET_KERNEL_CACHE": "0"})
    assert not wanted({})
    assert not wanted({"IISFLEET_KERNEL_CACHE": "0", "IISFLEET_CONNECTION_HANDOFF": "0"})
    assert config_stamp("123-45-6") == (123, 45) and config_stamp("6") is None
