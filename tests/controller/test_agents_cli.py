"""`iisfleet agents list|show` against a real controller with an enrolled stand-in agent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from iisfleet.cli import main
from tests.controller.conftest import ControllerUnderTest, free_port
from tests.controller.standin import start_standin


async def test_agents_list_and_show(
    controller: ControllerUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    join = await controller.join_token({"env": "t", "role": "web"})
    agent = await start_standin(tmp_path / "agent", controller.url, join, "web1", "127.0.0.2", free_port("127.0.0.2"))
    flags = ["--controller", controller.url, "--token", controller.token, "--cafile", str(controller.ca.cert_file)]
    try:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["agents", "list", "--json", *flags]) == 0
        listed = json.loads(capsys.readouterr().out)["agents"]
        assert [(a["name"], a["labels"]) for a in listed] == [("web1", {"env": "t", "role": "web"})]
        assert await asyncio.to_thread(main, ["agents", "list", "--selector", "env=other", "--json", *flags]) == 0
        assert json.loads(capsys.readouterr().out)["agents"] == []
        await asyncio.to_thread(main, ["agents", "list", *flags])
        table = capsys.readouterr().out
        assert "web1" in table and "env=t,role=web" in table and agent.enrollment.agent_id in table
        await asyncio.to_thread(main, ["agents", "show", "web1", "--json", *flags])
        shown = json.loads(capsys.readouterr().out)
        assert shown["id"] == agent.enrollment.agent_id and shown["status"] in ("online", "offline")
        assert await asyncio.to_thread(main, ["agents", "show", "nobody", *flags]) == 2
        assert "no agent has the id or name 'nobody'" in capsys.readouterr().err
    finally:
        await agent.stop()
