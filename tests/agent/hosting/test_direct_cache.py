"""DirectCache's file entries without kept bodies (the URI cache): bodies read now, descriptors bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.hosting.embedded.cache_policy import FileIdentity
from agent.hosting.embedded.worker import direct_cache
from agent.hosting.embedded.worker.direct_cache import DirectCache

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def store(cache: DirectCache, path: Path, text: str) -> tuple[int, str, int, str, str]:
    path.write_text(text)
    key = (1, "127.0.0.1", 80, "example", "/" + path.name)
    identity = FileIdentity.of(str(path), path.stat())
    assert cache.store(key, "v1", HEAD + text.encode(), (identity,), 0, 0, True)
    return key


def test_bodies_come_from_the_files_through_a_bounded_set_of_kept_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_cache, "MAX_OPEN_FILES", 2)
    cache = DirectCache(keep_bodies=False)
    before = open_descriptors()
    keys = [store(cache, tmp_path / f"f{i}.txt", f"body{i}") for i in range(4)]
    for _ in range(2):
        for i, key in enumerate(keys):
            entry = cache.lookup(key, "v1", "")
            assert entry is not None and entry.body == b"" and entry.dev >= 0  # nothing of the body is kept
            assert cache.body_of(entry) == f"body{i}".encode()
    assert cache.open_files == 2 and open_descriptors() == before + 2
    (tmp_path / "f0.txt").write_text("BODY0")  # same size, new content: the stat sees it, the entry goes
    os.utime(tmp_path / "f0.txt", ns=(0, (tmp_path / "f0.txt").stat().st_mtime_ns + 1_000_000))
    assert cache.lookup(keys[0], "v1", "") is None and cache.open_files == 1
    os.replace(tmp_path / "f2.txt", tmp_path / "f1.txt")  # the path names another file: the kept one is not read
    assert cache.lookup(keys[1], "v1", "") is None
    cache.clear("v2")
    assert cache.open_files == 0 and open_descriptors() == before


def test_a_whole_answer_whose_body_is_not_its_file_is_not_kept(tmp_path: Path) -> None:
    cache = DirectCache(keep_bodies=False)
    path = tmp_path / "a.txt"
    path.write_text("12345")
    identity = FileIdentity.of(str(path), path.stat())
    key = (1, "127.0.0.1", 80, "example", "/a.txt")
    assert not cache.store(key, "v1", HEAD + b"1234", (identity,), 0, 0, True)  # not the file's size
    assert cache.store(key, "v1", HEAD + b"12345", (identity,), 0, 0, True)
    entry = cache.lookup(key, "v1", "")
    assert entry is not None and cache.body_of(entry) == b"12345"
