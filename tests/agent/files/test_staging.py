"""Staging files never follow a link planted at their name (O_EXCL | O_NOFOLLOW, fchmod)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.files.paths import STAGING_PREFIX
from agent.files.staging import UnsafeStagingFile, create_staging, open_staging
from agent.files.uploads import series_key
from tests.agent.files.conftest import FilesEnv

SECRET = b"root:secret-hash:19000:0:99999:7:::\n"


def snapshot(path: Path) -> tuple[bytes, int]:
    """Content and permission bits of a file (sync, so async tests do no blocking pathlib calls)."""
    return path.read_bytes(), path.stat().st_mode & 0o777


def is_symlink(path: Path) -> bool:
    """Whether `path` is a symbolic link."""
    return path.is_symlink()


@pytest.fixture
def victim(env: FilesEnv) -> Path:
    """A file outside every location that an attacker would like the agent to overwrite."""
    path = env.outside / "shadow"
    path.write_bytes(SECRET)
    path.chmod(0o640)
    return path


def test_create_replaces_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(SECRET)
    staging = tmp_path / ".iisfleet-put-x.part"
    staging.symlink_to(victim)
    old_umask = os.umask(0o000)
    try:
        fd = create_staging(str(staging))
    finally:
        os.umask(old_umask)
    try:
        os.write(fd, b"upload")
    finally:
        os.close(fd)
    assert victim.read_bytes() == SECRET
    assert not staging.is_symlink() and staging.read_bytes() == b"upload"
    assert staging.stat().st_mode & 0o777 == 0o600  # set through the descriptor, whatever the umask


def test_reopen_refuses_symlinks_and_hard_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(SECRET)
    link = tmp_path / "symlink.part"
    link.symlink_to(victim)
    with pytest.raises(UnsafeStagingFile):
        open_staging(str(link))
    hard = tmp_path / "hard.part"
    os.link(victim, hard)
    with pytest.raises(UnsafeStagingFile):
        open_staging(str(hard))
    assert victim.read_bytes() == SECRET


async def test_planted_symlink_before_a_chunk_series(env: FilesEnv, victim: Path) -> None:
    target = env.rw / "site.bin"
    target.write_bytes(b"old")
    target.chmod(0o644)
    data = b"0123456789"
    # The staging name is predictable from the target and total size: plant a link there first.
    planted = env.rw / f"{STAGING_PREFIX}upload-{series_key(str(target), len(data))}.part"
    planted.symlink_to(victim)
    url = f"/api/files/content/{env.id(target)}"
    async with env.client.put(url, data=data[:5], headers={"Content-Range": f"bytes 0-4/{len(data)}"}) as resp:
        assert resp.status == 202
    assert snapshot(victim)[0] == SECRET and not is_symlink(planted)
    async with env.client.put(url, data=data[5:], headers={"Content-Range": f"bytes 5-9/{len(data)}"}) as resp:
        assert resp.status == 200
    assert snapshot(target) == (data, 0o644)
    assert snapshot(victim) == (SECRET, 0o640)


async def test_symlink_swapped_in_mid_series_is_not_followed(env: FilesEnv, victim: Path) -> None:
    target = env.rw / "site.bin"
    target.write_bytes(b"old")
    data = b"0123456789"
    url = f"/api/files/content/{env.id(target)}"
    async with env.client.put(url, data=data[:5], headers={"Content-Range": f"bytes 0-4/{len(data)}"}) as resp:
        assert resp.status == 202
    staging = env.rw / f"{STAGING_PREFIX}upload-{series_key(str(target), len(data))}.part"
    staging.unlink()
    staging.symlink_to(victim)
    async with env.client.put(url, data=data[5:], headers={"Content-Range": f"bytes 5-9/{len(data)}"}) as resp:
        assert resp.status >= 400
    assert snapshot(victim) == (SECRET, 0o640)
    assert snapshot(target)[0] == b"old"
