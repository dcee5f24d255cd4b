"""Security review: configured names never make the real embedded host reach outside the site directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit
from tests.e2e.test_embedded_host import get, run_host

pytestmark = pytest.mark.e2e


async def test_default_document_cannot_leave_the_site(tmp_path: Path) -> None:
    secret_dir = tmp_path / "state" / "controller"
    secret_dir.mkdir(parents=True)
    (secret_dir / "identity.json").write_text('{"private key": "SECRET"}')
    (secret_dir / "identity.pem").write_text("-----BEGIN PRIVATE KEY----- SECRET")
    async with run_host(tmp_path, {"home.html": "HOME", "sub/x.txt": "x"}) as hosted:
        def change(cfg: ConfigStore) -> None:
            # Written past the API (which refuses these names), as a hand-edited configuration would be.
            files = cfg.section("system.webServer/defaultDocument").collection("files")
            files.clear()
            for name in (str(secret_dir / "identity.json"), "../state/controller/identity.pem",
                         "..\\state\\controller\\identity.pem", "home.html"):
                files.add(value=name)
            cfg.section("system.webServer/staticContent").collection().add(fileExtension=".pem", mimeType="text/plain")
        edit(hosted.store, change)
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # the host picks the new configuration up within its poll interval
                status, body = await get(session, hosted.url + "/")
                assert "SECRET" not in body
                if body == "HOME":
                    break
                await asyncio.sleep(0.1)
            assert (status, body) == (200, "HOME")
            status, body = await get(session, hosted.url + "/sub/")
            assert "SECRET" not in body and status in (403, 404)
