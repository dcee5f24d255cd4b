"""Checking deploy archives (zip, tar, tar.gz/bz2/xz) before anything is sent to an agent.

An archive is refused when it is corrupt, holds an entry that would land outside the target directory
(`..`, an absolute path, a drive letter), holds anything but regular files and directories (symbolic or hard
links, devices, FIFOs), or would unpack to more entries or bytes than the limits (compression bombs).
The rules live in shared/archives.py; the agent's archive-extract extension applies them again when it unpacks.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from controller.services.errors import InvalidRequest
from shared import archives


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What a checked archive holds."""

    format: str
    files: int
    directories: int
    unpacked_bytes: int


def _inspect(path: Path, max_unpacked: int) -> ArchiveSummary:
    files = dirs = unpacked = 0
    for entry in archives.entries(str(path)):
        if entry.is_dir:
            dirs += 1
            continue
        files += 1
        unpacked += entry.size
        if unpacked > max_unpacked:
            raise InvalidRequest(f"the archive unpacks to more than {max_unpacked} bytes", name="archive")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member: CRC errors show up now, not on the agents
        if bad is not None:
            raise InvalidRequest(f"archive entry {bad!r} is corrupt (CRC mismatch)", name="archive")
        return ArchiveSummary("zip", files, dirs, unpacked)
    return ArchiveSummary("tar", files, dirs, unpacked)


def inspect_archive(path: Path, max_unpacked: int) -> ArchiveSummary:
    """Check an archive; InvalidRequest (400) says what is wrong with it."""
    try:
        return _inspect(path, max_unpacked)
    except archives.ArchiveRefused as err:
        raise InvalidRequest(f"{err}; nothing was deployed", name="archive") from err
    except (*archives.CORRUPT_ERRORS, ValueError) as err:
        raise InvalidRequest(f"the archive is corrupt or truncated: {err}", name="archive") from err
