"""Workers forked from the zygote (worker/zygote.py): separate processes with their pool, and a zygote crash heals."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from agent.hosting.embedded.supervisor import launch
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import POOLS, add_site, alive, edit, free_port
from tests.e2e.test_embedded_host import POOL, Hosted, get, run_host, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
SECOND = "SecondPool"


@pytest.fixture
async def two_pools(tmp_path: Path) -> AsyncIterator[tuple[Hosted, str]]:
    """The Default Web Site in DefaultAppPool and a site "Other" in a second pool; yields (hosted, other url)."""
    async with run_host(tmp_path, {"index.html": "default"}) as hosted:
        other = tmp_path / "other"
        other.mkdir()
        (other / "index.html").write_text("other")
        port = free_port(hosted.address)

        def change(cfg: ConfigStore) -> None:
            cfg.section(POOLS).collection().add(name=SECOND)
            add_site(cfg, "Other", 2, f"*:{port}:", other, SECOND)

        edit(hosted.store, change)
        await hosted.host.tick()
        yield hosted, f"http://{hosted.address}:{port}"


def zygote_pid(hosted: Hosted) -> int:
    zygote = hosted.host.launcher.zygote
    assert zygote is not None and zygote.process is not None and zygote.alive
    hosted.pids.add(zygote.process.pid)  # teardown checks it is gone too
    return zygote.process.pid


async def test_workers_of_two_pools_fork_from_one_zygote(two_pools: tuple[Hosted, str]) -> None:
    hosted, other_url = two_pools
    async with aiohttp.ClientSession() as session:
        assert await get(session, hosted.url + "/") == (200, "default")
        assert await get(session, other_url + "/") == (200, "other")
        [first] = hosted.worker_pids(POOL)
        [second] = hosted.worker_pids(SECOND)
        zygote = zygote_pid(hosted)
        assert len({first, second, zygote, os.getpid()}) == 4
        assert psutil.Process(first).ppid() == zygote and psutil.Process(second).ppid() == zygote
        # Each pid is its pool's worker: killing the second pool's leaves the first one serving alone.
        os.kill(second, signal.SIGKILL)
        await wait_for(lambda: second not in hosted.worker_pids(SECOND))
        assert await get(session, hosted.url + "/") == (200, "default")
        assert hosted.worker_pids(POOL) == [first]
        assert hosted.host.snapshot().pools[POOL].recent_crashes == 0
        assert hosted.host.snapshot().pools[SECOND].recent_crashes == 1
        assert await get(session, other_url + "/") == (200, "other")
        [replacement] = hosted.worker_pids(SECOND)
        assert replacement != second and psutil.Process(replacement).ppid() == zygote


async def test_a_dead_zygote_takes_its_workers_and_a_new_one_starts(two_pools: tuple[Hosted, str]) -> None:
    hosted, other_url = two_pools
    async with aiohttp.ClientSession() as session:
        assert await get(session, hosted.url + "/") == (200, "default")
        [worker] = hosted.worker_pids(POOL)
        zygote = zygote_pid(hosted)
        os.kill(zygote, signal.SIGKILL)
        await wait_for(lambda: not alive(worker))  # PR_SET_PDEATHSIG: workers do not outlive their zygote
        await wait_for(lambda: worker not in hosted.worker_pids(POOL))
        assert await get(session, hosted.url + "/") == (200, "default")
        [fresh] = hosted.worker_pids(POOL)
        new_zygote = zygote_pid(hosted)
        assert new_zygote != zygote and psutil.Process(fresh).ppid() == new_zygote
        assert await get(session, other_url + "/") == (200, "other")


async def test_without_a_zygote_workers_are_execd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A zygote that cannot start (here: a module that does not exist) falls back to exec'd workers.
    monkeypatch.setattr(launch, "ZYGOTE_MODULE", "agent.hosting.embedded.worker.no_such_zygote")
    async with run_host(tmp_path, {"index.html": "default"}) as hosted:
        async with aiohttp.ClientSession() as session:
            assert await get(session, hosted.url + "/") == (200, "default")
        [worker] = hosted.worker_pids(POOL)
        assert hosted.host.launcher.zygote is None
        assert psutil.Process(worker).ppid() == os.getpid()
        assert launch.WORKER_MODULE in " ".join(psutil.Process(worker).cmdline())
