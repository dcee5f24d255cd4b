"""The file handoff end to end: a worker passes a large static file's descriptor, the supervisor sendfiles it.

Whether the handoff was taken is observed from outside the code: the supervisor runs in this process, so while a
client stalls mid-body, /proc/self/fd shows whether the supervisor holds the file open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.hosting.embedded.file_handoff import HEADER
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import SITES, edit, raw_request
from tests.e2e.test_embedded_host import Hosted, run_host, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
SITE = "Default Web Site"
MIB = 1024 * 1024


@pytest.fixture
async def hosted(tmp_path: Path) -> AsyncIterator[Hosted]:
    """The default site with a 1 MiB and a 10 MiB file of random bytes, logging sc-bytes and time-taken."""
    async with run_host(tmp_path, {"index.html": "<h1>hello</h1>"}) as running:
        (running.content / "one.bin").write_bytes(os.urandom(MIB))
        (running.content / "ten.bin").write_bytes(os.urandom(10 * MIB))

        def log_bytes(cfg: ConfigStore) -> None:
            site = cfg.section(SITES).collection().find(name=SITE)
            assert site is not None
            site.child("logFile").set("logExtFileFlags", "Date, Time, UriStem, HttpStatus, BytesSent, TimeTaken")

        edit(running.store, log_bytes)
        await running.host.tick()
        yield running


def supervisor_holds(path: Path) -> bool:
    """Whether this process (the supervisor) has `path` open."""
    target = str(path.resolve())
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
    return False


def header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: str,
                   ) -> tuple[bytes, bytes]:  # fmt: skip
    """One request on an open connection; (head, body read to Content-Length unless HEAD)."""
    writer.write(request.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(header(head, "content-length") or 0)
    body = b"" if request.startswith("HEAD ") else await reader.readexactly(length)
    return head, body


@contextlib.asynccontextmanager
async def connection(hosted: Hosted, rcvbuf: int = 0) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                                             asyncio.StreamWriter]]:  # fmt: skip
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (hosted.address, hosted.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def w3c_rows(hosted: Hosted) -> list[dict[str, str]]:
    hosted.host.flush_logs()
    [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    lines = log_file.read_text().splitlines()
    fields = next(line for line in lines if line.startswith("#Fields: ")).removeprefix("#Fields: ").split()
    return [dict(zip(fields, line.split(), strict=True)) for line in lines if not line.startswith("#")]


async def idle(hosted: Hosted) -> None:
    await wait_for(lambda: hosted.host.snapshot().sites[SITE].requests_active == 0)


async def test_large_files_are_byte_identical_counted_and_logged(hosted: Hosted) -> None:
    expected = {name: (hosted.content / name).read_bytes() for name in ("one.bin", "ten.bin")}
    before = hosted.host.snapshot().sites[SITE]
    sent = received = 0
    async with connection(hosted) as (reader, writer):
        for name in ("one.bin", "ten.bin", "index.html", "one.bin"):
            request = f"GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n"
            head, body = await exchange(reader, writer, request)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert body == expected.get(name, b"<h1>hello</h1>")
            assert header(head, HEADER) is None and b"x-iisfleet" not in head.lower()
            sent, received = sent + len(head) + len(body), received + len(request)
    await idle(hosted)
    after = hosted.host.snapshot().sites[SITE]
    assert after.bytes_sent - before.bytes_sent == sent
    assert after.bytes_received - before.bytes_received == received
    rows = [r for r in w3c_rows(hosted) if r["cs-uri-stem"].endswith(".bin")]
    sizes = {"/one.bin": MIB, "/ten.bin": 10 * MIB}
    assert len(rows) == 3
    for row in rows:
        assert row["sc-status"] == "200"
        body = sizes[row["cs-uri-stem"]]
        assert body < int(row["sc-bytes"]) < body + 1024  # the body plus its head, exactly as counted above
        assert int(row["time-taken"]) >= 0
    assert sum(int(r["sc-bytes"]) for r in w3c_rows(hosted)) == sent


async def test_the_supervisor_sends_the_file_itself_only_without_max_bandwidth(hosted: Hosted) -> None:
    path = hosted.content / "ten.bin"
    for throttled in (False, True):
        async with connection(hosted, rcvbuf=4096) as (reader, writer):
            writer.write(b"GET /ten.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert header(head, "content-length") == str(10 * MIB)
            await reader.readexactly(65536)  # then stall: the sender waits with the file open
            await asyncio.sleep(0.3)
            assert supervisor_holds(path) is not throttled
            assert await reader.readexactly(10 * MIB - 65536) == path.read_bytes()[65536:]
        await idle(hosted)
        assert not supervisor_holds(path)  # the descriptor is closed when the send ends

        def limit(cfg: ConfigStore) -> None:
            site = cfg.section(SITES).collection().find(name=SITE)
            assert site is not None
            site.child("limits").set("maxBandwidth", 100 * MIB)

        edit(hosted.store, limit)
        await hosted.host.tick()


async def test_head_and_range_requests(hosted: Hosted) -> None:
    data = (hosted.content / "ten.bin").read_bytes()
    async with connection(hosted) as (reader, writer):
        head, body = await exchange(reader, writer, "HEAD /ten.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and header(head, "content-length") == str(len(data))
        assert body == b""
        request = "GET /ten.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-2000099\r\n\r\n"
        head, body = await exchange(reader, writer, request)
        assert head.startswith(b"HTTP/1.1 206 ")
        assert header(head, "content-range") == f"bytes 100-2000099/{len(data)}"
        assert body == data[100:2000100]
        head, body = await exchange(reader, writer, "GET /ten.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-70000\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206 ") and body == data[-70000:]
        head, body = await exchange(reader, writer, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        assert body == b"<h1>hello</h1>"  # the connection is still in step after HEAD and ranges


async def test_a_client_gone_mid_file_does_not_wedge_the_supervisor(hosted: Hosted) -> None:
    path = hosted.content / "ten.bin"
    for _ in range(3):
        async with connection(hosted, rcvbuf=4096) as (reader, writer):
            writer.write(b"GET /ten.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = len(await reader.readuntil(b"\r\n\r\n"))
            while got < 100_000:
                got += len(await reader.read(65536))
            linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.transport.abort()  # RST mid-body
        await idle(hosted)
        site = hosted.host.snapshot().sites[SITE]
        assert got <= site.bytes_sent and not supervisor_holds(path)
    async with connection(hosted) as (reader, writer):
        _, body = await exchange(reader, writer, "GET /one.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert body == (hosted.content / "one.bin").read_bytes()
    rows = w3c_rows(hosted)
    assert sum(int(r["sc-bytes"]) for r in rows) == hosted.host.snapshot().sites[SITE].bytes_sent


async def test_the_internal_header_never_reaches_a_client_nor_is_obeyed_from_content(hosted: Hosted) -> None:
    # customHeaders is content a site owner controls: it must not be able to forge a handoff answer.
    def forge(cfg: ConfigStore) -> None:
        cfg.section("system.webServer/httpProtocol").collection("customHeaders").add(name=HEADER, value="0 5")

    edit(hosted.store, forge)
    await hosted.host.tick()
    for name, data in (("index.html", b"<h1>hello</h1>"), ("one.bin", (hosted.content / "one.bin").read_bytes())):
        request = f"GET /{name} HTTP/1.1\r\nHost: x\r\n{HEADER}: 1\r\nConnection: close\r\n\r\n"
        answer = await raw_request(hosted.address, hosted.port, request.encode())
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == data
        assert HEADER.lower().encode() not in head.lower()
    await idle(hosted)
