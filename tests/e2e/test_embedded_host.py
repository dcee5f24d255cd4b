"""The embedded host end to end: real worker processes and sockets on 127.0.0.x, free high ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from agent.hosting.base import RuntimeStatus
from agent.hosting.embedded.supervisor.host import EmbeddedHost
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import (
    SITES,
    add_site,
    alive,
    edit,
    free_port,
    loopback,
    make_store,
    pool_element,
    raw_request,
    write_files,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
POOL = "DefaultAppPool"


@dataclass
class Hosted:
    """A running embedded host and what it serves."""

    host: EmbeddedHost
    store: ConfigStore
    address: str
    port: int
    content: Path
    pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The Default Web Site's base URL."""
        return f"http://{self.address}:{self.port}"

    def worker_pids(self, pool: str = POOL) -> list[int]:
        """Running workers of a pool (remembered so teardown can check they are gone)."""
        pids = [w.pid for w in self.host.snapshot().pools[pool].workers if w.state == "running"]
        self.pids.update(pids)
        return pids


@contextlib.asynccontextmanager
async def run_host(tmp_path: Path, files: dict[str, str], poll_interval: float = 0.2) -> AsyncIterator[Hosted]:
    """Default Web Site on a fresh loopback address serving `files`; checks no worker outlives the host."""
    address = loopback()
    port = free_port(address)
    content = tmp_path / "www"
    write_files(content, files)
    store = make_store(tmp_path, port, content)
    host = EmbeddedHost(store, tmp_path, address, poll_interval=poll_interval)
    await host.start()
    hosted = Hosted(host, store, address, port, content)
    try:
        yield hosted
    finally:
        hosted.pids.update(w.pid for p in host.snapshot().pools.values() for w in p.workers)
        await host.close()
        assert not [pid for pid in hosted.pids if alive(pid)], "a worker outlived the host"


@pytest.fixture
async def hosted(tmp_path: Path) -> AsyncIterator[Hosted]:
    """An index.html and a sub directory."""
    async with run_host(tmp_path, {"index.html": "<h1>hello</h1>", "sub/notes.txt": "notes"}) as running:
        yield running


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def wait_for(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll `predicate` until it holds (bounded)."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling state owned by another component
            await asyncio.sleep(0.05)


async def test_default_document_and_directory_listing(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        assert await get(session, hosted.url + "/") == (200, "<h1>hello</h1>")
        status, _ = await get(session, hosted.url + "/sub/")
        assert status == 403  # 403.14: no default document, browsing off
        browse = "system.webServer/directoryBrowse"
        edit(hosted.store, lambda c: c.section(browse, "Default Web Site").set("enabled", True))
        await hosted.host.tick()
        status, body = await get(session, hosted.url + "/sub/")
        assert status == 200
        assert "[To Parent Directory]" in body and "notes.txt" in body


async def test_a_config_write_in_process_is_served_without_waiting_for_the_poll(tmp_path: Path) -> None:
    # A 60 s poll: only the commit hook can make the change show within the 2 s bound.
    async with run_host(tmp_path, {"index.html": "hi", "sub/notes.txt": "notes"}, poll_interval=60) as hosted:
        async with aiohttp.ClientSession() as session:
            assert (await get(session, hosted.url + "/sub/"))[0] == 403
            async with hosted.store.write() as config:
                config.section("system.webServer/directoryBrowse", "Default Web Site").set("enabled", True)
            async with asyncio.timeout(2):
                while (await get(session, hosted.url + "/sub/"))[0] != 200:  # noqa: ASYNC110 - the host owns it
                    await asyncio.sleep(0.02)


async def test_stopped_site_refuses_connections(hosted: Hosted) -> None:
    await hosted.host.stop_site("Default Web Site")
    assert hosted.host.site_status("Default Web Site") == RuntimeStatus.STOPPED
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(hosted.address, hosted.port)
    await hosted.host.start_site("Default Web Site")
    async with aiohttp.ClientSession() as session:
        assert (await get(session, hosted.url + "/"))[0] == 200


async def test_stopped_pool_answers_503(hosted: Hosted) -> None:
    await hosted.host.stop_pool(POOL)
    async with aiohttp.ClientSession() as session:
        status, body = await get(session, hosted.url + "/")
        assert status == 503 and "Service Unavailable" in body
        await hosted.host.start_pool(POOL)
        assert (await get(session, hosted.url + "/"))[0] == 200


async def test_recycle_under_load_drops_nothing(hosted: Hosted) -> None:
    (hosted.content / "index.html").write_text("x" * 2048)
    statuses: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        assert (await get(session, hosted.url + "/"))[0] == 200
        [old_pid] = hosted.worker_pids()

        async def one() -> None:
            async with session.get(hosted.url + "/") as resp:
                await resp.read()
                statuses.append(resp.status)

        async def recycle() -> None:
            await wait_for(lambda: len(statuses) >= 300)
            await hosted.host.recycle_pool(POOL)

        await asyncio.gather(recycle(), *(one() for _ in range(2000)))
    assert statuses == [200] * 2000
    [new_pid] = hosted.worker_pids()
    assert new_pid != old_pid
    await wait_for(lambda: not alive(old_pid))


async def test_killed_worker_is_replaced(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        assert (await get(session, hosted.url + "/"))[0] == 200
        [pid] = hosted.worker_pids()
        os.kill(pid, signal.SIGKILL)
        await wait_for(lambda: pid not in hosted.worker_pids())
        assert (await get(session, hosted.url + "/"))[0] == 200
        [replacement] = hosted.worker_pids()
        assert replacement != pid
        assert hosted.host.snapshot().pools[POOL].recent_crashes == 1


async def test_rapid_fail_protection_stops_the_pool(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # rapidFailProtectionMaxCrashes defaults to 5
            assert (await get(session, hosted.url + "/"))[0] == 200
            [pid] = hosted.worker_pids()
            os.kill(pid, signal.SIGKILL)
            await wait_for(lambda pid=pid: pid not in hosted.worker_pids())  # type: ignore[misc]
        await wait_for(lambda: hosted.host.pool_status(POOL) == RuntimeStatus.STOPPED)
        assert (await get(session, hosted.url + "/"))[0] == 503


async def test_w3c_log_and_counters_match_requests(hosted: Hosted) -> None:
    requests = [b"/", b"/sub/notes.txt", b"/missing.html", b"/sub/", b"/web.config", b"/sub"]
    sent = received = 0
    for path in requests:
        data = b"GET " + path + b" HTTP/1.1\r\nHost: example\r\nUser-Agent: test agent\r\nConnection: close\r\n\r\n"
        answer = await raw_request(hosted.address, hosted.port, data)
        assert answer.startswith(b"HTTP/1.1 ")
        sent, received = sent + len(data), received + len(answer)
    site = hosted.host.snapshot().sites["Default Web Site"]
    assert site.requests_total == len(requests)
    assert (site.bytes_received, site.bytes_sent) == (sent, received)
    assert site.connections_total == len(requests)
    assert site.status_counts == {200: 2, 404: 2, 403: 1, 301: 1}
    hosted.host.flush_logs()
    [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    lines = log_file.read_text().splitlines()
    assert lines[0] == "#Software: Microsoft Internet Information Services 10.0"
    assert lines[1] == "#Version: 1.0" and lines[2].startswith("#Date: ")
    fields = lines[3].removeprefix("#Fields: ").split()
    rows = [dict(zip(fields, line.split(), strict=True)) for line in lines[4:]]
    assert [r["cs-uri-stem"] for r in rows] == [p.decode() for p in requests]
    assert [(r["sc-status"], r["sc-substatus"]) for r in rows] == [
        ("200", "0"), ("200", "0"), ("404", "0"), ("403", "14"), ("404", "7"), ("301", "0"),
    ]  # fmt: skip
    assert {r["cs(User-Agent)"] for r in rows} == {"test+agent"}


async def test_bad_requests_and_slow_clients(hosted: Hosted) -> None:
    edit(hosted.store, lambda c: c.section(SITES).collection().find(name="Default Web Site")
         .child("limits").set("connectionTimeout", "00:00:01"))  # fmt: skip
    await hosted.host.tick()
    malformed = await raw_request(hosted.address, hosted.port, b"NOT A REQUEST\r\n\r\n")
    assert malformed.startswith(b"HTTP/1.1 400 ")
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    assert (await raw_request(hosted.address, hosted.port, huge)).startswith(b"HTTP/1.1 400 ")
    no_host = await raw_request(hosted.address, hosted.port, b"GET / HTTP/1.1\r\n\r\n")
    assert no_host.startswith(b"HTTP/1.1 400 ")

    reader, writer = await asyncio.open_connection(hosted.address, hosted.port)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(20):  # a slowloris drip: one header byte at a time
            await asyncio.sleep(0.25)
            try:
                writer.write(b"X")
                await writer.drain()
            except ConnectionError:
                break
            if reader.at_eof():
                break
        try:
            tail = await reader.read()
        except ConnectionResetError:  # a drip byte that arrived after the server closed gets an RST
            tail = b""
        assert tail == b""
        assert loop.time() - started < 4
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    async with aiohttp.ClientSession() as session:
        assert (await get(session, hosted.url + "/"))[0] == 200


async def test_port_in_use_fails_only_that_site(hosted: Hosted, tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind((hosted.address, 0))
    taken.listen()
    busy_port = taken.getsockname()[1]
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("other")
    fresh_port = free_port(hosted.address)
    try:
        edit(hosted.store, lambda c: add_site(c, "Blocked", 7, f"*:{busy_port}:", other, POOL))
        edit(hosted.store, lambda c: add_site(c, "Fresh", 8, f"*:{fresh_port}:", other, POOL))
        await hosted.host.tick()
        assert hosted.host.site_status("Blocked") == RuntimeStatus.STOPPED
        assert "in use" in hosted.host.snapshot().sites["Blocked"].error.lower()
        async with aiohttp.ClientSession() as session:
            assert await get(session, f"http://{hosted.address}:{fresh_port}/") == (200, "other")
            assert (await get(session, hosted.url + "/"))[0] == 200
        # Deleting a site releases its binding; a changed pool setting recycles the pool.
        [pid] = hosted.worker_pids()
        edit(hosted.store, lambda c: c.section(SITES).collection().remove(
            c.section(SITES).collection().find(name="Fresh")))  # fmt: skip
        edit(hosted.store, lambda c: pool_element(c, POOL).child("recycling").child("periodicRestart")
             .set("requests", 1000))  # fmt: skip
        await hosted.host.tick()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(hosted.address, fresh_port)
        await wait_for(lambda: len(hosted.worker_pids()) == 1 and hosted.worker_pids() != [pid])
    finally:
        taken.close()


async def test_conditional_range_and_config_changes(hosted: Hosted, tmp_path: Path) -> None:
    (hosted.content / "big.txt").write_text("0123456789" * 100)
    async with aiohttp.ClientSession() as session:
        async with session.get(hosted.url + "/big.txt") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "text/plain"
            etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
        async with session.get(hosted.url + "/big.txt", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        async with session.get(hosted.url + "/big.txt", headers={"If-Modified-Since": modified}) as resp:
            assert resp.status == 304
        async with session.get(hosted.url + "/big.txt", headers={"Range": "bytes=10-19"}) as resp:
            assert resp.status == 206 and await resp.text() == "0123456789"
        async with session.get(hosted.url + "/big.txt", headers={"Range": "bytes=5000-"}) as resp:
            assert resp.status == 416
        # A changed physical path and a custom header take effect without a restart.
        moved = tmp_path / "moved"
        moved.mkdir()
        (moved / "index.html").write_text("moved")

        def change(cfg: ConfigStore) -> None:
            site = cfg.section(SITES).collection().find(name="Default Web Site")
            assert site is not None
            next(iter(next(iter(site.collection())).collection())).set("physicalPath", str(moved))
            cfg.section("system.webServer/httpProtocol").collection("customHeaders").add(name="X-Fleet", value="yes")

        edit(hosted.store, change)
        await hosted.host.tick()
        async with session.get(hosted.url + "/") as resp:
            assert await resp.text() == "moved" and resp.headers["X-Fleet"] == "yes"


async def test_max_connections_answers_503(hosted: Hosted) -> None:
    edit(
        hosted.store,
        lambda c: c.section(SITES).collection().find(name="Default Web Site").child("limits").set("maxConnections", 1),
    )
    await hosted.host.tick()
    reader, writer = await asyncio.open_connection(hosted.address, hosted.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        second = await raw_request(hosted.address, hosted.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 503 ")
        assert hosted.host.snapshot().sites["Default Web Site"].connections_refused == 1
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_idle_timeout_and_periodic_restart_by_requests(hosted: Hosted) -> None:
    def change(cfg: ConfigStore) -> None:
        pool = pool_element(cfg, POOL)
        pool.child("processModel").set("idleTimeout", "00:00:01")
        pool.child("recycling").child("periodicRestart").set("requests", 5)

    edit(hosted.store, change)
    await hosted.host.tick()
    async with aiohttp.ClientSession() as session:
        assert (await get(session, hosted.url + "/"))[0] == 200
        [first] = hosted.worker_pids()
        for _ in range(5):
            assert (await get(session, hosted.url + "/"))[0] == 200
        await wait_for(lambda: hosted.worker_pids() not in ([first], []))  # recycled after 5 requests
        await wait_for(lambda: hosted.worker_pids() == [])  # then idle for 1 s: no worker left
        assert hosted.host.pool_status(POOL) == RuntimeStatus.STARTED
        assert (await get(session, hosted.url + "/"))[0] == 200  # on demand again


def _write_self_signed(path: Path, host: str) -> None:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


async def test_https_binding_terminates_tls(hosted: Hosted, tmp_path: Path) -> None:
    _write_self_signed(tmp_path / "certificates" / "default.pem", hosted.address)
    tls_port = free_port(hosted.address)

    def change(cfg: ConfigStore) -> None:
        site = cfg.section(SITES).collection().find(name="Default Web Site")
        assert site is not None
        site.collection("bindings").add(protocol="https", bindingInformation=f"*:{tls_port}:")

    edit(hosted.store, change)
    await hosted.host.tick()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://{hosted.address}:{tls_port}/", ssl=False) as resp:
            assert resp.status == 200 and await resp.text() == "<h1>hello</h1>"


async def _fetch_raw(address: str, port: int, path: str, *, tls: bool = False) -> tuple[bytes, bytes]:
    """One GET on a fresh connection; (head, body) read to Content-Length."""
    import ssl

    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(address, port, ssl=context)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))  # fmt: skip
        return head, await reader.readexactly(length)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_large_file_over_http_and_https_is_byte_identical_and_counted(hosted: Hosted, tmp_path: Path) -> None:
    # Plain http takes the splice(2) relay, https the copying one; both must deliver the same bytes and count them.
    data = os.urandom(3 * 1024 * 1024 + 12345)
    (hosted.content / "big.bin").write_bytes(data)
    _write_self_signed(tmp_path / "certificates" / "default.pem", hosted.address)
    tls_port = free_port(hosted.address)

    def change(cfg: ConfigStore) -> None:
        site = cfg.section(SITES).collection().find(name="Default Web Site")
        assert site is not None
        site.collection("bindings").add(protocol="https", bindingInformation=f"*:{tls_port}:")

    edit(hosted.store, change)
    await hosted.host.tick()
    before = hosted.host.snapshot().sites["Default Web Site"].bytes_sent
    head, body = await _fetch_raw(hosted.address, hosted.port, "/big.bin")
    assert head.startswith(b"HTTP/1.1 200 ") and body == data
    await wait_for(lambda: hosted.host.snapshot().sites["Default Web Site"].requests_active == 0)
    after_http = hosted.host.snapshot().sites["Default Web Site"].bytes_sent
    assert after_http - before == len(head) + len(data)
    head, body = await _fetch_raw(hosted.address, tls_port, "/big.bin", tls=True)
    assert head.startswith(b"HTTP/1.1 200 ") and body == data
    await wait_for(lambda: hosted.host.snapshot().sites["Default Web Site"].requests_active == 0)
    assert hosted.host.snapshot().sites["Default Web Site"].bytes_sent - after_http == len(head) + len(data)
    # Keep-alive after a spliced body: the next response on the same connection is intact.
    reader, writer = await asyncio.open_connection(hosted.address, hosted.port)
    try:
        for path, expected in (("/big.bin", data), ("/index.html", b"<h1>hello</h1>"), ("/big.bin", data)):
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(answer.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            assert await reader.readexactly(length) == expected
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    hosted.host.flush_logs()
    [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    rows = [line.split() for line in log_file.read_text().splitlines() if "/big.bin" in line]
    assert len(rows) == 4


async def test_client_gone_mid_large_body_counts_bytes_actually_sent(hosted: Hosted) -> None:
    (hosted.content / "huge.bin").write_bytes(b"z" * (16 * 1024 * 1024))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (hosted.address, hosted.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
    writer.write(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    got = len(await reader.readuntil(b"\r\n\r\n"))
    while got < 100_000:
        got += len(await reader.read(65536))
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()  # RST mid-body
    await wait_for(lambda: hosted.host.snapshot().sites["Default Web Site"].requests_active == 0)
    site = hosted.host.snapshot().sites["Default Web Site"]
    assert got <= site.bytes_sent < 16 * 1024 * 1024
    # The worker and the supervisor carry on.
    async with aiohttp.ClientSession() as session:
        assert await get(session, hosted.url + "/") == (200, "<h1>hello</h1>")


async def test_worker_killed_mid_large_body_closes_the_client(hosted: Hosted) -> None:
    (hosted.content / "huge.bin").write_bytes(b"z" * (64 * 1024 * 1024))
    reader, writer = await asyncio.open_connection(hosted.address, hosted.port, limit=1 << 16)
    try:
        writer.write(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(100_000)
        [pid] = hosted.worker_pids()
        os.kill(pid, signal.SIGKILL)
        received = 100_000
        async with asyncio.timeout(20):
            while chunk := await reader.read(1 << 20):
                received += len(chunk)
        assert received < 64 * 1024 * 1024  # truncated, and the connection was closed (EOF above)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    await wait_for(lambda: hosted.host.snapshot().sites["Default Web Site"].requests_active == 0)
    await wait_for(lambda: pid not in hosted.worker_pids())
    async with aiohttp.ClientSession() as session:
        assert await get(session, hosted.url + "/") == (200, "<h1>hello</h1>")


async def test_chunked_request_body_is_relayed_and_counted(hosted: Hosted) -> None:
    # The supervisor decodes a chunked body (extensions and trailers included) and counts every byte it read.
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    head = b"POST /sub/notes.txt HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = await raw_request(hosted.address, hosted.port, head + body)
    assert answer.startswith(b"HTTP/1.1 405 "), answer[:80]  # the static file handler takes GET and HEAD only
    site = hosted.host.snapshot().sites["Default Web Site"]
    assert (site.requests_total, site.bytes_received) == (1, len(head) + len(body))
