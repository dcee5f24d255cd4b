"""Zip entries' Unix mode bits: a file with permission bits only is a plain file; FIFOs and links are refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from shared.archives import ArchiveRefused, entries


def _zip(path: Path, mode: int | None) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("index.html")
        if mode is not None:
            info.external_attr = mode << 16
        archive.writestr(info, b"hello")
    return str(path)


@pytest.mark.parametrize("mode", [None, 0o600, 0o644 | stat.S_IFREG])
def test_plain_files_are_accepted(tmp_path: Path, mode: int | None) -> None:
    assert [e.name for e in entries(_zip(tmp_path / "a.zip", mode))] == ["index.html"]


@pytest.mark.parametrize("mode", [stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o644, stat.S_IFLNK | 0o777])
def test_special_files_are_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ArchiveRefused):
        list(entries(_zip(tmp_path / "a.zip", mode)))
