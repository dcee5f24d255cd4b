"""The supervisor's kernel response cache end to end: real workers, real sockets, real files.

Connections stay on the supervisor's relay here (IISFLEET_CONNECTION_HANDOFF=0): a handed-off connection is
answered from its worker's copy of the cache, which tests/e2e/test_embedded_handoff.py covers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent.hosting.embedded.supervisor import cache_hit
from agent.hosting.embedded.supervisor.connection import Connection
from tests.agent.hosting.support import edit, raw_request
from tests.e2e.test_embedded_host import POOL, Hosted, run_host

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
SITE = "Default Web Site"


@pytest.fixture
async def hosted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hosted]:
    """A small page, a default document and a sub directory."""
    monkeypatch.setenv("IISFLEET_CONNECTION_HANDOFF", "0")
    files = {"index.html": "<h1>home</h1>", "page.html": "version 1", "sub/notes.txt": "notes"}
    async with run_host(tmp_path, files) as running:
        yield running


def worker_requests(hosted: Hosted) -> int:
    return sum(w.requests_total for w in hosted.host.snapshot().pools[POOL].workers)


def hits(hosted: Hosted) -> int:
    return hosted.host.snapshot().cache.hits


def etag(headers: dict[str, str]) -> str:
    return next(v for k, v in headers.items() if k.lower() == "etag")


async def fetch(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_second_request_is_a_hit_and_counters_add_up(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        first = await fetch(session, hosted.url + "/page.html")
        served = worker_requests(hosted)
        second = await fetch(session, hosted.url + "/page.html")
        for _ in range(8):
            assert (await fetch(session, hosted.url + "/page.html"))[:2] == (200, "version 1")
    assert first[:2] == second[:2] == (200, "version 1")
    # The same headers as the worker's answer (Date aside), and nothing internal leaks.
    assert {k: v for k, v in first[2].items() if k != "Date"} == {k: v for k, v in second[2].items() if k != "Date"}
    assert not [k for k in second[2] if k.lower().startswith("x-iisfleet-")]
    assert worker_requests(hosted) == served
    snap = hosted.host.snapshot()
    site = snap.sites[SITE]
    assert (snap.cache.hits, snap.cache.items) == (9, 1) and snap.cache.bytes > len("version 1")
    assert site.cache_hits + site.cache_misses == site.requests_total == 10
    assert snap.pools[POOL].requests_total == 10  # the pool counts hits; its worker does not
    assert site.status_counts == {200: 10}


async def test_modified_file_is_served_fresh(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await fetch(session, hosted.url + "/page.html"))[1] == "version 1"
        assert hits(hosted) == 1
        page = hosted.content / "page.html"
        page.write_text("version 2 is longer")
        assert (await fetch(session, hosted.url + "/page.html"))[1] == "version 2 is longer"
        # Same size, new mtime.
        page.write_text("version 3 is longer")
        os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 1_000_000))
        assert (await fetch(session, hosted.url + "/page.html"))[1] == "version 3 is longer"
        # Replaced by rename (a new inode).
        (hosted.content / "new.html").write_text("version 4 is longer")
        os.replace(hosted.content / "new.html", page)
        assert (await fetch(session, hosted.url + "/page.html"))[1] == "version 4 is longer"
        page.unlink()
        assert (await fetch(session, hosted.url + "/page.html"))[0] == 404


async def test_default_document_follows_its_directory(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await fetch(session, hosted.url + "/"))[1] == "<h1>home</h1>"
        assert hits(hosted) == 1
        (hosted.content / "Default.htm").write_text("default first")  # earlier in the defaultDocument list
        assert (await fetch(session, hosted.url + "/"))[1] == "default first"


async def test_config_change_drops_the_cache(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            status, _, headers = await fetch(session, hosted.url + "/page.html")
            assert status == 200 and "X-Cache-Test" not in headers
        assert hosted.host.snapshot().cache.items == 1
        protocol = "system.webServer/httpProtocol"
        edit(hosted.store, lambda c: c.section(protocol, SITE).collection("customHeaders")
             .add(name="X-Cache-Test", value="on"))  # fmt: skip
        await hosted.host.tick()
        assert hosted.host.snapshot().cache.items == 0
        status, _, headers = await fetch(session, hosted.url + "/page.html")
        assert status == 200 and headers.get("X-Cache-Test") == "on"
        status, _, headers = await fetch(session, hosted.url + "/page.html")
        assert headers.get("X-Cache-Test") == "on" and hosted.host.snapshot().cache.items == 1
        # Request filtering is configuration too: a denied extension stops being served at once.
        filtering = "system.webServer/security/requestFiltering"
        edit(hosted.store, lambda c: c.section(filtering, SITE).child("fileExtensions").collection()
             .add(fileExtension=".html", allowed=False))  # fmt: skip
        await hosted.host.tick()
        assert (await fetch(session, hosted.url + "/page.html"))[0] == 404


async def test_stopped_pool_and_site_are_not_answered_from_the_cache(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await fetch(session, hosted.url + "/page.html"))[0] == 200
        assert hits(hosted) == 1
        await hosted.host.stop_pool(POOL)
        assert hosted.host.snapshot().cache.items == 0
        status, body, _ = await fetch(session, hosted.url + "/page.html")
        assert status == 503 and "Service Unavailable" in body
        await hosted.host.start_pool(POOL)
        for _ in range(2):
            assert (await fetch(session, hosted.url + "/page.html"))[0] == 200
        await hosted.host.stop_site(SITE)
        assert hosted.host.snapshot().cache.items == 0
    with pytest.raises(OSError):
        await raw_request(hosted.address, hosted.port, b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")


async def test_range_and_conditional_requests_bypass_the_cache(hosted: Hosted) -> None:
    async with aiohttp.ClientSession() as session:
        _, _, headers = await fetch(session, hosted.url + "/page.html")
        await fetch(session, hosted.url + "/page.html")
        assert hits(hosted) == 1
        served = worker_requests(hosted)
        status, body, _ = await fetch(session, hosted.url + "/page.html", Range="bytes=0-6")
        assert (status, body) == (206, "version")
        status, body, _ = await fetch(session, hosted.url + "/page.html", **{"If-None-Match": etag(headers)})
        assert (status, body) == (304, "")
        status, body, _ = await fetch(session, hosted.url + "/page.html", Authorization="Basic eDp5")
        assert (status, body) == (200, "version 1")
        assert worker_requests(hosted) == served + 3 and hits(hosted) == 1
        # A precompressed sibling is what a gzip-accepting client gets, cached plain entry or not.
        (hosted.content / "page.html.gz").write_bytes(b"\x1f\x8b fake gzip")
        async with session.get(hosted.url + "/page.html", headers={"Accept-Encoding": "gzip"},
                               auto_decompress=False) as resp:  # fmt: skip
            assert resp.headers.get("Content-Encoding") == "gzip"
        assert hits(hosted) == 1


async def test_head_hit_and_w3c_log_lines(hosted: Hosted) -> None:
    requests = [b"GET", b"GET", b"HEAD", b"GET"]
    for method in requests:
        head = b"Host: example\r\nUser-Agent: cache test\r\nConnection: close\r\n\r\n"
        data = method + b" /page.html?x=1 HTTP/1.1\r\n" + head
        answer = await raw_request(hosted.address, hosted.port, data)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 9\r\n" in answer
        assert answer.endswith(b"\r\n\r\n") if method == b"HEAD" else answer.endswith(b"version 1")
    snap = hosted.host.snapshot()
    assert snap.cache.hits == 3 and snap.sites[SITE].requests_total == 4
    hosted.host.flush_logs()
    [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
    lines = log_file.read_text().splitlines()
    fields = lines[3].removeprefix("#Fields: ").split()
    rows = [dict(zip(fields, line.split(), strict=True)) for line in lines[4:]]
    assert [(r["cs-method"], r["cs-uri-stem"], r["cs-uri-query"], r["sc-status"]) for r in rows] == [
        (m.decode(), "/page.html", "x=1", "200") for m in requests
    ]
    assert {r["cs(User-Agent)"] for r in rows} == {"cache+test"}




async def test_pipelined_hits_and_misses_keep_order_and_counts(hosted: Hosted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hits answered inside data_received (cache_hit.py) and misses served by the connection's task stay in
    request order on one connection, and every request is counted once (a counted miss is not looked up again)."""
    outcomes: list[str] = []
    real = cache_hit.answer

    def spy(conn: Connection) -> bool:
        answered = real(conn)
        outcomes.append("hit" if answered else "handed" if conn.pending else "left")
        return answered

    monkeypatch.setattr(cache_hit, "answer", spy)
    host = f"Host: {hosted.address}:{hosted.port}\r\n"
    page = f"GET /page.html HTTP/1.1\r\n{host}\r\n".encode()
    notes = f"GET /sub/notes.txt HTTP/1.1\r\n{host}\r\n".encode()
    post = f"POST /page.html HTTP/1.1\r\n{host}Content-Length: 3\r\n\r\nabc".encode()
    last = f"GET /page.html HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(hosted.address, hosted.port)
    try:
        for _ in range(2):  # the second is a hit, answered inline: the connection waits at a request boundary
            writer.write(page)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ") and await reader.readexactly(len("version 1")) == b"version 1"
        assert outcomes[-1] == "hit"  # the first may have arrived before the connection's task waited
        seen = len(outcomes)
        before = hosted.host.snapshot().sites[SITE]
        # One send: hit (inline), miss (handed to the task with its Exchange), hit, a request with a body,
        # hit, a closing hit.
        writer.write(page + notes + page + post + page + last)
        async with asyncio.timeout(10):
            answer = await reader.read(-1)
    finally:
        writer.close()
    assert outcomes[seen : seen + 2] == ["hit", "handed"]
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert len(parts) == 6, answer[:3000]
    statuses = [p.split(b" ", 1)[0] for p in parts]
    bodies = [p.split(b"\r\n\r\n", 1)[1] for p in parts]
    assert [statuses[i] for i in (0, 1, 2, 4, 5)] == [b"200"] * 5
    assert [bodies[i] for i in (0, 1, 2, 4, 5)] == [b"version 1", b"notes", b"version 1", b"version 1", b"version 1"]
    after = hosted.host.snapshot()
    site = after.sites[SITE]
    assert site.requests_total - before.requests_total == 6
    assert (site.cache_hits - before.cache_hits, site.cache_misses - before.cache_misses) == (4, 2)
    assert site.bytes_sent - before.bytes_sent == len(answer)  # what the client got, exactly
    assert site.connections_current == 0


async def test_large_handed_over_file_is_a_hit_by_identity(hosted: Hosted) -> None:
    """A large file the worker handed over is cached as its identity: the next GET is a hit sent by the
    supervisor (no worker request), byte-identical and counted; a changed file is served fresh."""
    big = hosted.content / "big.bin"
    big.write_bytes(os.urandom(300_000))
    async with aiohttp.ClientSession() as session:
        first = await fetch_bytes(session, hosted.url + "/big.bin")
        served = worker_requests(hosted)
        before = hosted.host.snapshot()
        second = await fetch_bytes(session, hosted.url + "/big.bin")
        after = hosted.host.snapshot()
        assert first[:2] == second[:2] == (200, big.read_bytes())
        assert worker_requests(hosted) == served
        assert after.cache.hits - before.cache.hits == 1
        sent = after.sites[SITE].bytes_sent - before.sites[SITE].bytes_sent
        assert 300_000 < sent < 300_000 + 1024
        assert {k: v for k, v in first[2].items() if k != "Date"} == {k: v for k, v in second[2].items() if k != "Date"}
        # Rewritten in place with the same size: a new mtime, so the worker answers again.
        data = os.urandom(300_000)
        big.write_bytes(data)
        os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 1_000_000))
        assert (await fetch_bytes(session, hosted.url + "/big.bin"))[1] == data
        assert worker_requests(hosted) == served + 1
        async with session.head(hosted.url + "/big.bin") as resp:  # a HEAD hit: the head only
            assert resp.status == 200 and resp.headers["Content-Length"] == "300000"
            assert await resp.read() == b""


async def fetch_bytes(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes, dict[str, str]]:
    async with session.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.read(), dict(resp.headers)
