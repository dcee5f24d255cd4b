"""SIGKILL the agent in the middle of a chunked upload: after a restart it lists only chunks it really has,
the client resends the rest, and the file is byte for byte what was sent."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.files import uploads
from tests.e2e.agent_process import AgentProcess, create_key, start_agent

pytestmark = pytest.mark.e2e

CHUNK = 8 * 1024 * 1024
TOTAL = 10 * CHUNK
SENT = 9  # chunks sent before the kill: past FLUSH_BEHIND, so a background sync and sidecar save ran


class Client:
    def __init__(self, session: aiohttp.ClientSession, agent: AgentProcess, token: str) -> None:
        self.session, self.agent = session, agent
        self.headers = {"Access-Token": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kw.pop("headers", {})}
        async with self.session.request(method, self.agent.url + path, headers=headers,
                                        ssl=self.agent.ssl_context(), **kw) as resp:
            return resp.status, (await resp.json() if resp.content_type.endswith("json") else await resp.read())

    async def chunk(self, file_id: str, data: bytes, first: int) -> int:
        span = f"bytes {first}-{first + CHUNK - 1}/{TOTAL}"
        body = io.BytesIO(data[first : first + CHUNK])
        status, _ = await self.call("PUT", f"/api/files/content/{file_id}", data=body, headers={"Content-Range": span})
        return status


async def _new_file(client: Client) -> str:
    status, roots = await client.call("GET", "/api/files")
    assert status == 200
    for root in roots["files"]:
        _, full = await client.call("GET", f"/api/files/{root['id']}")
        if "write" in full.get("claims", []):
            status, made = await client.call("POST", "/api/files", json={"parent": {"id": root["id"]},
                                                                          "name": "big.bin", "type": "file"})
            assert status == 201
            return str(made["id"])
    raise AssertionError("no writable file location in the default settings")


async def test_a_killed_agent_resumes_a_chunk_series_with_what_it_really_has(tmp_path: Path) -> None:
    assert SENT * CHUNK > uploads.FLUSH_BEHIND
    state = tmp_path / "state"
    state.mkdir()
    token = create_key(state)
    data = os.urandom(TOTAL)
    agent = start_agent(state)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, agent, token)
            file_id = await _new_file(client)
            for index in range(SENT):
                assert await client.chunk(file_id, data, index * CHUNK) == 202
            await asyncio.sleep(0.5)  # let the background sync save its sidecar (not asserted: either is safe)
    finally:
        agent.stop(kill=True)
    agent = start_agent(state)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, agent, token)
            status, body = await client.call("PUT", f"/api/files/content/{file_id}",
                                             headers={"Content-Range": f"bytes */{TOTAL}"})
            assert status == 202
            missing = [(span["first"], span["last"]) for span in body["missing"]]
            # Never more than was sent, and the last chunk (never sent) is always missing.
            assert body["received"] <= SENT * CHUNK and missing[-1][1] == TOTAL - 1
            for first, last in missing:
                for at in range(first - first % CHUNK, last + 1, CHUNK):
                    status = await client.chunk(file_id, data, at)
            assert status == 200
            status, content = await client.call("GET", f"/api/files/content/{file_id}")
            assert status == 200 and content == data
    finally:
        agent.stop()
