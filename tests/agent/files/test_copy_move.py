"""Copy and move jobs: 202 + a pollable job, whole trees, conflicts, and a full disk that leaves no trace."""

from __future__ import annotations

import asyncio
import filecmp
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.files.runtime import FILES_RUNTIME
from agent.keys import FILE_LOCATIONS, SETTINGS
from agent.settings import FileLocation
from tests.agent.files.conftest import HAL, FilesEnv
from tests.tmpfs import tmpfs


def make_tree(root: Path, dirs: int = 5, files: int = 5, size: int = 10_000) -> None:
    """`dirs` folders of `files` files each, plus one nested folder."""
    for d in range(dirs):
        for f in range(files):
            path = root / f"d{d}" / f"f{f}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes([d, f]) * (size // 2))
    (root / "d0" / "nested" / "deep").mkdir(parents=True)
    (root / "d0" / "nested" / "deep" / "x.txt").write_text("deep")


def same_tree(a: Path, b: Path) -> bool:
    """Whether two directory trees hold the same names and bytes."""
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    if filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)[1:] != ([], []):
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


async def run_job(env: FilesEnv, kind: str, body: dict[str, Any]) -> Any:
    """Start a job, check 202 + Location, poll until it is no longer 200; return the final response body."""
    async with env.client.post(f"/api/files/{kind}", json=body, headers=HAL) as resp:
        assert resp.status == 202, await resp.text()
        job = await resp.json(content_type=None)
        assert resp.headers["Location"] == f"/api/files/{kind}/{job['id']}"
        assert job["status"] == "running" and job["_links"]["self"]["href"] == f"/api/files/copy/{job['id']}"
    for _ in range(500):
        async with env.client.get(f"/api/files/{kind}/{job['id']}") as resp:
            if resp.status != 200:
                return resp.status, await resp.json(content_type=None)
            assert (await resp.json(content_type=None))["total_size"] == job["total_size"]
        await asyncio.sleep(0.01)
    raise AssertionError("job never finished")


async def test_copy_and_move_directory_tree(env: FilesEnv) -> None:
    make_tree(env.rw / "src")
    (env.rw / "dst").mkdir()
    status, _ = await run_job(env, "copy", {"file": {"id": env.id(env.rw / "src")},
                                            "parent": {"id": env.id(env.rw / "dst")}})
    assert status == 404 and same_tree(env.rw / "src", env.rw / "dst" / "src")
    status, _ = await run_job(env, "move", {"file": {"id": env.id(env.rw / "dst" / "src")},
                                            "parent": {"id": env.id(env.rw)}, "name": "moved"})
    assert status == 404 and same_tree(env.rw / "src", env.rw / "moved")
    assert not (env.rw / "dst" / "src").exists()
    assert [n for n in os.listdir(env.rw) if n.startswith(".")] == []


async def test_copy_file_next_to_itself_and_never_over_an_existing_one(env: FilesEnv) -> None:
    (env.rw / "a.txt").write_text("AAA")
    (env.rw / "b.txt").write_text("old")
    body = {"file": {"id": env.id(env.rw / "a.txt")}, "parent": {"id": env.id(env.rw)}}
    await run_job(env, "copy", {**body, "name": "copy.txt"})
    assert (env.rw / "copy.txt").read_text() == "AAA"
    refused = await env.json("POST", "/api/files/copy", 409, json={**body, "name": "b.txt"})
    assert refused["name"] == "name"
    assert (env.rw / "b.txt").read_text() == "old"  # the existing file is untouched


async def test_copy_conflicts_and_validation(env: FilesEnv) -> None:
    make_tree(env.rw / "src", dirs=1, files=1)
    (env.rw / "taken").write_text("a file where the directory would go")
    (env.rw / "f.txt").write_text("f")
    (env.rw / "adir").mkdir()
    src, root = {"id": env.id(env.rw / "src")}, {"id": env.id(env.rw)}
    body = await env.json("POST", "/api/files/copy", 409, json={"file": src, "parent": root, "name": "taken"})
    assert body["name"] == "name"
    await env.json("POST", "/api/files/move", 409, json={"file": {"id": env.id(env.rw / "f.txt")}, "parent": root,
                                                          "name": "adir"})
    body = await env.json("POST", "/api/files/copy", 400, json={"file": src, "parent": {"id": env.id(env.rw / "src" /
                                                                                                      "d0")}})
    assert body["name"] == "parent" and "subfolder" in body["detail"]
    await env.json("POST", "/api/files/copy", 400, json={"file": src})
    await env.json("POST", "/api/files/copy", 400, json={"file": src, "parent": root, "name": "bad/name"})
    await env.json("POST", "/api/files/copy", 404, json={"file": {"id": env.id(env.rw / "none")}, "parent": root})
    await env.json("POST", "/api/files/copy", 403, json={"file": src, "parent": {"id": env.id(env.ro)}})
    for method in ("GET", "PATCH", "PUT"):
        async with env.client.request(method, "/api/files/copy") as resp:
            assert resp.status == 405
    assert (env.rw / "taken").read_text().startswith("a file")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs; skipped where mounting is not possible."""
    with tmpfs(tmp_path / "tiny", "1m") as mount:
        yield mount


async def test_full_disk_fails_cleanly(env: FilesEnv, tiny_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = env.app[SETTINGS]
    settings.files.locations.append(FileLocation(alias="tiny", path=str(tiny_disk), claims=["read", "write"]))
    env.app[FILE_LOCATIONS].update(settings.files)
    make_tree(env.rw / "big", dirs=3, files=10, size=50_000)  # 1.5 MB: more than the disk holds
    (env.rw / "one.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    target = {"id": env.id(tiny_disk)}
    body = await env.json("POST", "/api/files/copy", 507, json={"file": {"id": env.id(env.rw / "one.bin")},
                                                                "parent": target})
    assert body["title"] == "Insufficient Storage"
    # Pretend there is room so the copy starts and hits ENOSPC halfway through.
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(env.rw))
    status, body = await run_job(env, "copy", {"file": {"id": env.id(env.rw / "big")}, "parent": target})
    monkeypatch.undo()
    assert status == 507 and body["title"] == "Insufficient Storage"
    assert os.listdir(tiny_disk) == []
    (tiny_disk / "t.bin").write_bytes(b"")
    async with env.client.put(f"/api/files/content/{env.id(tiny_disk / 't.bin')}",
                              data=io.BytesIO((env.rw / "one.bin").read_bytes())) as resp:
        assert resp.status == 507, await resp.text()
    assert os.listdir(tiny_disk) == ["t.bin"] and (tiny_disk / "t.bin").read_bytes() == b""
    await env.app[FILES_RUNTIME].operations.wait()
