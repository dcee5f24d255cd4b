"""Uploads: a chunk series keeps its staging file open, counts chunks in memory and syncs in the background."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path

import pytest

from agent.files import uploads
from agent.files.staging import UnsafeStagingFile
from agent.files.uploads import Uploads
from tests.agent.files.chunks import write_chunk


def _content(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "site" / "f.bin"
    path.parent.mkdir()
    path.write_bytes(b"old")
    return path


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the staging files the store opens or creates."""
    seen: list[str] = []
    for name in ("open_staging", "create_staging"):
        real = getattr(uploads, name)

        def counting(path: str, *args: int, _real=real, _name=name) -> int:  # type: ignore[no-untyped-def]
            seen.append(_name)
            return int(_real(path, *args))

        monkeypatch.setattr(uploads, name, counting)
    return seen


async def test_a_series_opens_its_staging_file_once(tmp_path: Path, target: Path, opens: list[str]) -> None:
    store = Uploads(tmp_path / "state")
    for first in range(0, 40, 10):
        series = await write_chunk(store, target, 50, first, bytes([65 + first // 10]) * 10)
    assert not series.done and series.missing == [(40, 49)]
    assert opens == ["create_staging"]  # chunks 2-4 wrote through the descriptor the first one opened
    series = await write_chunk(store, target, 50, 40, b"E" * 10)
    assert series.done
    assert _content(target) == b"A" * 10 + b"B" * 10 + b"C" * 10 + b"D" * 10 + b"E" * 10
    # A fresh process (restart) reopens the staging file of a series it finds on disk; it knows only the
    # synced progress (none here), so the first chunk is missing again.
    await write_chunk(store, target, 20, 0, b"x" * 10)
    restarted = Uploads(tmp_path / "state")
    series = await write_chunk(restarted, target, 20, 10, b"y" * 10)
    assert series.missing == [(0, 9)]
    series = await write_chunk(restarted, target, 20, 0, b"z" * 10)
    assert series.done and _content(target) == b"z" * 10 + b"y" * 10
    # Each completion reopens read-only to fsync; the restarted store reopened the series' file once.
    assert opens == ["create_staging", "open_staging", "create_staging", "open_staging", "open_staging"]


@pytest.mark.parametrize("how", ["unlink", "rename"])
async def test_a_staging_file_deleted_mid_series_starts_it_over(tmp_path: Path, target: Path, how: str) -> None:
    store = Uploads(tmp_path / "state")
    series = await write_chunk(store, target, 20, 0, b"a" * 10)
    # The open descriptor now writes to a file that is not at the staging name: never count that.
    if how == "unlink":
        os.unlink(series.staging)
    else:
        os.rename(series.staging, tmp_path / "moved")
    series = await write_chunk(store, target, 20, 10, b"b" * 10)
    assert series.received == [(10, 19)] and series.missing == [(0, 9)]
    series = await write_chunk(store, target, 20, 0, b"c" * 10)
    assert series.done and _content(target) == b"c" * 10 + b"b" * 10


async def test_a_hard_link_planted_mid_series_is_refused(tmp_path: Path, target: Path) -> None:
    store = Uploads(tmp_path / "state")
    series = await write_chunk(store, target, 20, 0, b"a" * 10)
    os.link(series.staging, tmp_path / "planted")
    with pytest.raises(UnsafeStagingFile):
        await store.begin(str(target), 20)


async def test_the_sync_runs_off_the_chunks_answer(
    tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "FLUSH_BEHIND", 10)
    release, started = threading.Event(), threading.Event()

    def slow_sync(fd: int) -> None:
        started.set()
        assert release.wait(10)

    monkeypatch.setattr(uploads, "datasync", slow_sync)
    state = tmp_path / "state"
    store = Uploads(state)
    await write_chunk(store, target, 30, 0, b"a" * 10)  # answered while its sync is still blocked
    await asyncio.to_thread(started.wait, 10)
    series = await write_chunk(store, target, 30, 10, b"b" * 10)  # one sync at a time: this one only counts
    assert series.missing == [(20, 29)]
    on_disk = await Uploads(state).find(str(target), 30)
    assert on_disk is not None and on_disk.received == []  # nothing saved before the sync returned
    release.set()
    await store.synced()
    on_disk = await Uploads(state).find(str(target), 30)
    assert on_disk is not None and on_disk.received == [(0, 9)]  # what was counted when the sync began
    series = await write_chunk(store, target, 30, 20, b"c" * 10)  # completes after any sync in flight
    assert series.done and _content(target) == b"a" * 10 + b"b" * 10 + b"c" * 10


async def test_a_failed_sync_fails_the_next_chunk_and_forgets_unsynced_progress(
    tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "FLUSH_BEHIND", 10)
    failures = [OSError(errno.EIO, "disk error")]

    def failing_sync(fd: int) -> None:
        if failures:
            raise failures.pop()

    monkeypatch.setattr(uploads, "datasync", failing_sync)
    store = Uploads(tmp_path / "state")
    await write_chunk(store, target, 30, 0, b"a" * 10)
    await store.synced()
    with pytest.raises(OSError, match="disk error"):
        await write_chunk(store, target, 30, 10, b"b" * 10)
    series = await store.find(str(target), 30)
    assert series is not None and series.received == []  # the sidecar's view: chunk 1 must be sent again
    for first, fill in ((0, b"a"), (10, b"b")):
        await write_chunk(store, target, 30, first, fill * 10)
    series = await write_chunk(store, target, 30, 20, b"c" * 10)
    assert series.done and _content(target) == b"a" * 10 + b"b" * 10 + b"c" * 10


async def test_a_chunk_into_a_series_that_started_over_is_not_counted(tmp_path: Path, target: Path) -> None:
    store = Uploads(tmp_path / "state")
    series = await write_chunk(store, target, 20, 0, b"a" * 10)
    old, fd = await store.begin(str(target), 20)  # a slow writer, still on the old staging file
    os.unlink(series.staging)
    restarted = await write_chunk(store, target, 20, 0, b"b" * 10)  # the series starts over in a new file
    assert restarted.received == [(0, 9)]
    try:
        os.pwrite(fd, b"c" * 10, 10)
    finally:
        os.close(fd)
    current = await store.end(old, (10, 19))
    assert current.received == [(0, 9)] and not current.done  # its bytes went to the orphan inode
    series = await write_chunk(store, target, 20, 10, b"d" * 10)
    assert series.done and _content(target) == b"b" * 10 + b"d" * 10
