"""/api/files/content: ranged and conditional reads, whole and chunked uploads (out of order, resumable)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os

from tests.agent.files.conftest import FilesEnv

MB = 1024 * 1024


async def test_get_range_and_headers(env: FilesEnv) -> None:
    data = bytes(range(256)) * 40
    (env.rw / "data.bin").write_bytes(data)
    url = f"/api/files/content/{env.id(env.rw / 'data.bin')}"
    async with env.client.get(url) as resp:
        assert resp.status == 200 and await resp.read() == data
        tag = resp.headers["ETag"]
        assert not tag.startswith('"') and resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["Content-Disposition"] == "attachment;filename=data.bin"
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert 'rel="meta"' in resp.headers["Link"]
    async with env.client.get(url, headers={"Range": "bytes=10-19"}) as resp:
        assert resp.status == 206 and await resp.read() == data[10:20]
        assert resp.headers["Content-Range"] == f"10-19/{len(data)}"
    async with env.client.get(url, headers={"Range": "bytes=10-19", "If-Range": "stale"}) as resp:
        assert resp.status == 200 and await resp.read() == data
    for bad in ("bytes=5-", f"bytes=0-{len(data)}", "bytes=9-3", "lines=0-1"):
        async with env.client.get(url, headers={"Range": bad}) as resp:
            assert resp.status == 416
    # Upstream quirk 12: GET ignores If-None-Match, HEAD honours it.
    async with env.client.get(url, headers={"If-None-Match": tag}) as resp:
        assert resp.status == 200
    async with env.client.head(url, headers={"If-None-Match": tag}) as resp:
        assert resp.status == 304
    async with env.client.head(url) as resp:
        assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data)) and not await resp.read()
    await env.json("GET", f"/api/files/content/{env.id(env.rw)}", 404)


async def test_put_whole_body_and_preconditions(env: FilesEnv) -> None:
    (env.rw / "t.txt").write_text("old content")
    os.chmod(env.rw / "t.txt", 0o640)
    url = f"/api/files/content/{env.id(env.rw / 't.txt')}"
    async with env.client.put(url, data=b"new") as resp:
        assert resp.status == 200 and await resp.read() == b""
    assert (env.rw / "t.txt").read_bytes() == b"new" and (os.stat(env.rw / "t.txt").st_mode & 0o777) == 0o640
    async with env.client.get(url) as resp:
        tag = resp.headers["ETag"]
    async with env.client.put(url, data=b"x", headers={"If-Match": "nope"}) as resp:
        assert resp.status == 412 and (await resp.json(content_type=None))["name"] == "If-Match"
    async with env.client.put(url, data=b"x", headers={"If-None-Match": tag}) as resp:
        assert resp.status == 412
    async with env.client.put(url, data=b"", headers={"If-Match": tag}) as resp:
        assert resp.status == 200
    assert (env.rw / "t.txt").read_bytes() == b""
    async with env.client.put(f"/api/files/content/{env.id(env.rw / 'none.txt')}", data=b"x") as resp:
        assert resp.status == 404
    assert [n for n in os.listdir(env.rw) if n.startswith(".")] == []


async def test_bad_chunks_are_rejected(env: FilesEnv) -> None:
    (env.rw / "c.bin").write_bytes(b"")
    url = f"/api/files/content/{env.id(env.rw / 'c.bin')}"
    for header in ("bytes 5-1/10", "bytes 0-10/10", "0-1/10", "bytes a-b/c"):
        async with env.client.put(url, data=b"xx", headers={"Content-Range": header}) as resp:
            assert resp.status == 400 and (await resp.json(content_type=None))["name"] == "Content-Range"
    async with env.client.put(url, data=b"xxx", headers={"Content-Range": "bytes 0-1/10"}) as resp:
        assert resp.status == 400 and (await resp.json(content_type=None))["name"] == "Content-Length"
    async with env.client.put(url, data=b"", headers={"Content-Range": "bytes */10"}) as resp:
        assert resp.status == 404


async def test_chunked_upload_out_of_order_reports_missing_then_completes(env: FilesEnv) -> None:
    size, chunk = 64 * MB, 8 * MB
    data = os.urandom(size)
    (env.rw / "big.bin").write_bytes(b"previous")
    url = f"/api/files/content/{env.id(env.rw / 'big.bin')}"

    async def send(index: int) -> tuple[int, dict[str, str], bytes]:
        first, last = index * chunk, min(size, (index + 1) * chunk) - 1
        headers = {"Content-Range": f"bytes {first}-{last}/{size}"}
        async with env.client.put(url, data=io.BytesIO(data[first : last + 1]), headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    for index in (7, 2, 0, 5):
        status, _headers, _body = await send(index)
        assert status == 202
    # Two chunks at once, then the rest but chunk 4.
    results = await asyncio.gather(send(3), send(1))
    assert {r[0] for r in results} == {202}
    status, headers, body = await send(6)
    assert status == 202
    assert headers["X-Missing-Ranges"] == f"bytes={4 * chunk}-{5 * chunk - 1}"
    assert b'"missing":[{"first":33554432,"last":41943039}]' in body.replace(b" ", b"")
    assert (env.rw / "big.bin").read_bytes() == b"previous"  # untouched until complete
    async with env.client.put(url, data=b"", headers={"Content-Range": f"bytes */{size}"}) as resp:
        assert resp.status == 202 and resp.headers["X-Missing-Ranges"] == headers["X-Missing-Ranges"]
    status, _headers, body = await send(4)
    assert status == 200 and body == b""
    digest = hashlib.sha256()
    async with env.client.get(url) as resp:
        async for piece in resp.content.iter_chunked(MB):
            digest.update(piece)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert [n for n in os.listdir(env.rw) if n.startswith(".")] == []
    assert list((env.state / "uploads").glob("*.json")) == []


async def test_shorter_series_shrinks_the_file(env: FilesEnv) -> None:
    (env.rw / "s.bin").write_bytes(b"")
    url = f"/api/files/content/{env.id(env.rw / 's.bin')}"
    for total in (5 * MB, 5 * MB // 2):
        payload = os.urandom(total)
        for first in range(0, total, 512 * 1024):
            last = min(total, first + 512 * 1024) - 1
            async with env.client.put(url, data=io.BytesIO(payload[first : last + 1]),
                                      headers={"Content-Range": f"bytes {first}-{last}/{total}"}) as resp:
                assert resp.status == (200 if last == total - 1 else 202)
        assert (env.rw / "s.bin").read_bytes() == payload


async def test_concurrent_uploads_of_different_files(env: FilesEnv) -> None:
    async def upload(n: int) -> bytes:
        (env.rw / f"f{n}.bin").write_bytes(b"")
        url = f"/api/files/content/{env.id(env.rw / f'f{n}.bin')}"
        payload, total, step = os.urandom(MB), MB, 256 * 1024
        for first in range(0, total, step):
            async with env.client.put(url, data=payload[first : first + step],
                                      headers={"Content-Range": f"bytes {first}-{first + step - 1}/{total}"}) as resp:
                assert resp.status in (200, 202)
        return payload

    payloads = await asyncio.gather(*(upload(n) for n in range(15)))
    for n, payload in enumerate(payloads):
        assert (env.rw / f"f{n}.bin").read_bytes() == payload
