"""The worker's own HTTP/1.1 server (worker/server.py) on a real unix socket, driven with raw bytes.

Framing (keep-alive, pipelining, chunked and unread bodies, HEAD), malformed input, and the file semantics
ported from aiohttp's FileResponse (Range, conditional GET, ETag format, precompressed siblings, sendfile).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.hosting.embedded.worker.file_response import SMALL_FILE_BYTES, FileResponse
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse, http_date
from agent.hosting.embedded.worker.server import Server

Reply = tuple[int, dict[str, str], bytes]


async def handler(request: Request) -> StreamResponse:
    """/echo: the body read back; /file/<name>: a FileResponse under FILES; /lazy: ignores its body."""
    if request.path == "/echo":
        data = await request.content.read()
        return Response(text=f"{request.method} {len(data)} {data[:20].decode()}")
    if request.path.startswith("/file/"):
        return FileResponse(FILES / request.path[6:], headers={"Content-Type": "text/plain"})
    if request.path == "/boom":
        raise RuntimeError("handler failure")
    return Response(text=f"{request.method} {request.path} q={request.query_string}")


FILES = Path()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    global FILES
    FILES = tmp_path / "files"
    FILES.mkdir()
    path = str(tmp_path / "w.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    srv = Server(handler)
    await srv.start(sock)
    yield path
    await srv.close(1.0)


class Client:
    """A raw connection that reads responses by their framing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, *, head_only: bool = False) -> Reply:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0"))
        body = b"" if head_only else await asyncio.wait_for(self.reader.readexactly(length), 5)
        return status, headers, body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 5) == b""


@pytest.fixture
async def client(server: str) -> AsyncIterator[Client]:
    reader, writer = await asyncio.open_unix_connection(server)
    yield Client(reader, writer)
    writer.close()


def get(path: str, *extra: str, method: str = "GET") -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: w", *extra, "", ""]).encode()


async def test_keep_alive_serves_several_requests_on_one_connection(client: Client) -> None:
    for n in range(3):
        await client.send(get(f"/r{n}?a=%20b+c"))
        status, headers, body = await client.reply()
        assert (status, body) == (200, f"GET /r{n} q=a= b c".encode())
        assert headers["content-type"] == "text/plain; charset=utf-8" and "date" in headers
        assert "connection" not in headers


async def test_pipelined_requests_are_answered_in_order(client: Client) -> None:
    await client.send(get("/one") + get("/echo", "Content-Length: 5", method="POST") + b"hello" + get("/three"))
    assert (await client.reply())[2] == b"GET /one q="
    assert (await client.reply())[2] == b"POST 5 hello"
    assert (await client.reply())[2] == b"GET /three q="


async def test_chunked_request_body_is_decoded(client: Client) -> None:
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    await client.send(get("/echo", "Transfer-Encoding: chunked", method="POST") + body + get("/after"))
    assert (await client.reply())[2] == b"POST 11 hello world"
    assert (await client.reply())[2] == b"GET /after q="


async def test_an_unread_large_body_is_skipped_to_reach_the_next_request(client: Client) -> None:
    size = 3 * 1024 * 1024  # far over the read pause threshold: reading must resume to discard it
    await client.send(get("/lazy", f"Content-Length: {size}", method="PUT"))
    sending = asyncio.ensure_future(client.send(b"x" * size + get("/next")))
    assert (await client.reply())[2] == b"PUT /lazy q="
    assert (await client.reply())[2] == b"GET /next q="
    await sending


async def test_head_keeps_the_length_without_a_body(client: Client) -> None:
    await client.send(get("/x", method="HEAD") + get("/y"))
    status, headers, _ = await client.reply(head_only=True)
    assert status == 200 and headers["content-length"] == str(len(b"HEAD /x q="))
    assert (await client.reply())[2] == b"GET /y q="  # nothing stray between the two


async def test_connection_close_is_honoured(client: Client) -> None:
    await client.send(get("/bye", "Connection: close"))
    status, headers, _ = await client.reply()
    assert status == 200 and headers["connection"] == "close"
    assert await client.closed()


async def test_a_failing_handler_answers_500_and_keeps_serving(client: Client) -> None:
    await client.send(get("/boom") + get("/fine"))
    assert (await client.reply())[0] == 500
    assert (await client.reply())[0] == 200


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: w\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: w\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: w\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: w\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
async def test_malformed_heads_get_their_status_and_a_closed_connection(client: Client, raw: bytes,
                                                                        status: int) -> None:  # fmt: skip
    await client.send(raw)
    assert (await client.reply())[0] == status
    assert await client.closed()


async def test_a_broken_chunked_body_ends_the_connection(client: Client) -> None:
    await client.send(get("/echo", "Transfer-Encoding: chunked", method="POST") + b"zz\r\nhello\r\n0\r\n\r\n")
    assert (await client.reply())[0] == 500  # the module reading the body failed
    assert await client.closed()  # framing is lost: no next request on this connection


def write_file(name: str, data: bytes) -> os.stat_result:
    (FILES / name).write_bytes(data)
    return os.stat(FILES / name)


async def test_file_etag_last_modified_and_conditional_get(client: Client) -> None:
    st = write_file("a.txt", b"0123456789")
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'  # aiohttp's format, which caches and tests rely on
    await client.send(get("/file/a.txt"))
    status, headers, body = await client.reply()
    assert (status, body, headers["etag"]) == (200, b"0123456789", etag)
    assert headers["accept-ranges"] == "bytes" and headers["last-modified"] == http_date(-(-st.st_mtime // 1))
    await client.send(get("/file/a.txt", f"If-None-Match: W/{etag}"))  # weak comparison for If-None-Match
    status, headers, body = await client.reply()
    assert (status, body, headers["etag"]) == (304, b"", etag) and "content-length" not in headers
    await client.send(get("/file/a.txt", f"If-Modified-Since: {http_date(st.st_mtime + 60)}"))
    assert (await client.reply())[0] == 304
    await client.send(get("/file/a.txt", f"If-Modified-Since: {http_date(st.st_mtime - 60)}"))
    assert (await client.reply())[0] == 200
    await client.send(get("/file/a.txt", 'If-Match: "other"'))
    status, headers, body = await client.reply()
    assert (status, body, headers["content-length"]) == (412, b"", "0")
    await client.send(get("/file/a.txt", f"If-Match: {etag}"))
    assert (await client.reply())[0] == 200
    await client.send(get("/file/a.txt", f"If-Unmodified-Since: {http_date(st.st_mtime - 60)}"))
    assert (await client.reply())[0] == 412


@pytest.mark.parametrize(
    ("range_", "status", "body", "content_range"),
    [
        ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=-30", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-", 416, b"", "bytes */10"),
        ("bytes=4-2", 416, b"", "bytes */10"),
        ("lines=1-2", 416, b"", "bytes */10"),
    ],
)
async def test_file_ranges(client: Client, range_: str, status: int, body: bytes, content_range: str) -> None:
    write_file("r.txt", b"0123456789")
    await client.send(get("/file/r.txt", f"Range: {range_}"))
    got_status, headers, got_body = await client.reply()
    assert (got_status, got_body, headers["content-range"]) == (status, body, content_range)


async def test_if_range_with_an_older_date_sends_the_whole_file(client: Client) -> None:
    st = write_file("r.txt", b"0123456789")
    await client.send(get("/file/r.txt", "Range: bytes=2-4", f"If-Range: {http_date(st.st_mtime - 60)}"))
    status, headers, body = await client.reply()
    assert (status, body) == (200, b"0123456789") and "content-range" not in headers


async def test_precompressed_sibling_missing_file_and_large_file(client: Client) -> None:
    write_file("p.txt", b"plain")
    write_file("p.txt.gz", gzip.compress(b"plain"))
    await client.send(get("/file/p.txt", "Accept-Encoding: gzip"))
    status, headers, body = await client.reply()
    assert (status, headers["content-encoding"], headers["vary"]) == (200, "gzip", "Accept-Encoding")
    assert gzip.decompress(body) == b"plain"
    await client.send(get("/file/p.txt"))
    assert (await client.reply())[2] == b"plain"
    await client.send(get("/file/missing.txt"))
    assert (await client.reply())[0] == 404
    big = os.urandom(SMALL_FILE_BYTES * 8 + 3)  # over the in-memory size: goes out by sendfile
    write_file("big.bin", big)
    await client.send(get("/file/big.bin") + get("/file/big.bin", "Range: bytes=100-"))
    assert (await client.reply())[2] == big
    assert (await client.reply())[2] == big[100:]
