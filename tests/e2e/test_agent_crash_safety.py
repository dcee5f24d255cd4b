"""SIGKILL the agent repeatedly during concurrent writes: the config always parses and keeps every 2xx write."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from tests.e2e.agent_process import AgentProcess, create_key, start_agent

pytestmark = pytest.mark.e2e

ROUNDS = 5
WRITERS = 4


def _pool_names(config: Path) -> set[str]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.parse(str(config), parser).getroot()  # raises if the file is corrupt
    return {str(e.get("name")) for e in root.iterfind("system.applicationHost/applicationPools/add")}


async def _writer(session: aiohttp.ClientSession, agent: AgentProcess, token: str, prefix: str,
                  acknowledged: set[str]) -> None:
    n = 0
    headers = {"Access-Token": f"Bearer {token}"}
    ssl_context = agent.ssl_context()
    while True:
        name = f"{prefix}-{n}"
        n += 1
        try:
            async with session.post(f"{agent.url}/api/webserver/application-pools", json={"name": name},
                                    headers=headers, ssl=ssl_context) as response:
                if response.status == 201:
                    acknowledged.add(name)
        except (aiohttp.ClientError, OSError):
            return  # the agent died under us: this write was never acknowledged


async def test_sigkill_during_writes_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    token = create_key(state)
    acknowledged: set[str] = set()
    for round_no in range(ROUNDS):
        agent = start_agent(state)
        try:
            async with aiohttp.ClientSession() as session:
                writers = [asyncio.ensure_future(_writer(session, agent, token, f"r{round_no}w{w}", acknowledged))
                           for w in range(WRITERS)]
                await asyncio.sleep(0.6 + 0.3 * round_no)
                agent.stop(kill=True)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*writers), timeout=20)
        finally:
            agent.stop(kill=True)
        on_disk = _pool_names(state / "applicationHost.config")
        missing = acknowledged - on_disk
        assert not missing, f"round {round_no}: acknowledged writes lost: {sorted(missing)[:5]}"
    assert len(acknowledged) > ROUNDS * WRITERS  # the test really wrote under load
