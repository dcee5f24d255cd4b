"""write_stream: gathered writes of the socket's own pieces, background syncs, and the Content-Range limit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.files import uploads
from agent.files.uploads import Uploads, write_stream
from shared.errors import InvalidParameter
from tests.agent.files.chunks import write_chunk


async def _pieces(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    at = 0
    index = 0
    while at < len(data):
        size = sizes[index % len(sizes)]
        yield data[at : at + size]
        at += size
        index += 1


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Blocks, iovec limits and background syncs small enough to cross them many times; counts the syncs."""
    monkeypatch.setattr(uploads, "WRITE_BLOCK", 64 * 1024)
    monkeypatch.setattr(uploads, "MAX_IOV", 7)
    monkeypatch.setattr(uploads, "FLUSH_BEHIND", 256 * 1024)
    syncs: list[int] = []

    def counting(fd: int) -> None:
        syncs.append(fd)
        os.fsync(fd)

    monkeypatch.setattr(uploads, "datasync", counting)
    return syncs


async def test_body_lands_byte_for_byte_at_its_offset(tmp_path: Path, small_blocks: list[int]) -> None:
    data = os.urandom(3 * 1024 * 1024 + 12345)
    target = tmp_path / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"head", 0)
        written = await write_stream(fd, 4, _pieces(data, [1, 4096, 70000, 333, 65536]), None)
    finally:
        os.close(fd)
    assert written == len(data)
    assert target.read_bytes() == b"head" + data
    # Synced in the background as it went (one sync at a time, so a slow disk gets fewer), never per block.
    assert 1 <= len(small_blocks) <= len(data) // (256 * 1024)


async def test_a_body_past_the_limit_is_refused(tmp_path: Path, small_blocks: list[int]) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(InvalidParameter):
            await write_stream(fd, 0, _pieces(os.urandom(500_000), [10_000]), 499_999)
    finally:
        os.close(fd)



async def test_chunk_progress_is_persisted_only_after_a_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "FLUSH_BEHIND", 100)
    syncs: list[int] = []
    monkeypatch.setattr(uploads, "datasync", lambda fd: syncs.append(fd))
    target = tmp_path / "site" / "f.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    state = tmp_path / "state"
    store = Uploads(state)
    series = await write_chunk(store, target, 300, 0, b"a" * 60)
    assert series.missing == [(60, 299)] and not syncs  # counted, not yet synced
    after_crash = await Uploads(state).find(str(target), 300)
    assert after_crash is not None and after_crash.received == []  # the record never runs ahead of the disk
    series = await write_chunk(store, target, 300, 60, b"b" * 100)
    await store.synced()  # the sync and the sidecar save run in the background, off the chunk's answer
    assert len(syncs) == 1
    after_crash = await Uploads(state).find(str(target), 300)
    assert after_crash is not None and after_crash.received == [(0, 159)]
    series = await write_chunk(store, target, 300, 160, b"c" * 140)
    assert series.done
    assert target.read_bytes() == b"a" * 60 + b"b" * 100 + b"c" * 140
