"""Download links: 201 + Location, served without a token, 404 once expired or deleted."""

from __future__ import annotations

import asyncio

from tests.agent.files.conftest import FilesEnv


async def test_link_serves_until_ttl(env: FilesEnv) -> None:
    (env.rw / "d.txt").write_text("download me")
    fid = env.id(env.rw / "d.txt")
    async with env.client.post("/api/files/downloads", json={"file": {"id": fid}, "ttl": "300"}) as resp:
        assert resp.status == 201 and await resp.read() == b""
        location = resp.headers["Location"]
        assert location.startswith("/downloads/") and len(location.rsplit("/", 1)[1]) == 43
        assert resp.headers["Pragma"] == "attachment"
    for _ in range(2):
        async with env.client.get(location) as resp:
            assert resp.status == 200 and await resp.text() == "download me"
            assert resp.headers["Content-Disposition"].startswith("attachment;")
    async with env.client.get(location + "?inline") as resp:
        assert resp.headers["Content-Disposition"] == "inline;filename=d.txt"
    async with env.client.get(location, headers={"Range": "bytes=0-7"}) as resp:
        assert resp.status == 206 and await resp.text() == "download"
    await asyncio.sleep(0.35)
    await env.json("GET", location, 404)


async def test_errors_delete_and_405(env: FilesEnv) -> None:
    (env.rw / "d.txt").write_text("x")
    await env.json("POST", "/api/files/downloads", 400, json={"ttl": 5})
    await env.json("POST", "/api/files/downloads", 400, json={"file": 3})
    await env.json("POST", "/api/files/downloads", 400, json={"file": {}})
    body = await env.json("POST", "/api/files/downloads", 404, json={"file": {"id": env.id(env.rw / "gone.txt")}})
    assert body["name"] == str(env.rw / "gone.txt")
    for method in ("GET", "HEAD", "PATCH", "PUT"):
        async with env.client.request(method, "/api/files/downloads") as resp:
            assert resp.status == 405
    async with env.client.post("/api/files/downloads", json={"file": {"id": env.id(env.rw / "d.txt")}}) as resp:
        location = resp.headers["Location"]
    await env.json("DELETE", location, 204)
    await env.json("GET", location, 404)
