"""Checking deploy archives (zip, tar, tar.gz/bz2/xz) before anything is sent to an agent.

An archive is refused when it is corrupt, holds an entry that would land outside the target directory
(`..`, an absolute path, a drive letter), holds anything but regular files and directories (symbolic or hard
links, devices, FIFOs), or would unpack to more entries or bytes than the limits (compression bombs).
The agent's archive-extract extension applies the same rules again when it unpacks.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from controller.services.errors import InvalidRequest

MAX_ENTRIES = 200_000
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What a checked archive holds."""

    format: str
    files: int
    directories: int
    unpacked_bytes: int


def entry_problem(name: str) -> str | None:
    """Why an entry name is unsafe to extract, or None when it stays inside the target."""
    if not name or "\x00" in name:
        return "has an empty or NUL-containing name"
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "is an absolute path"
    if ".." in text.split("/"):
        return "escapes the target directory (..)"
    return None


def _refuse(name: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"archive entry {name!r} {problem}; nothing was deployed", name="archive")


def _check_totals(entries: int, unpacked: int, max_unpacked: int) -> None:
    if entries > MAX_ENTRIES:
        raise InvalidRequest(f"the archive has more than {MAX_ENTRIES} entries", name="archive")
    if unpacked > max_unpacked:
        raise InvalidRequest(f"the archive unpacks to more than {max_unpacked} bytes", name="archive")


def _inspect_tar(path: Path, max_unpacked: int) -> ArchiveSummary:
    files = dirs = unpacked = 0
    # Iterating reads the whole (decompressed) stream, so a truncated or corrupt archive fails here.
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            problem = entry_problem(member.name)
            if problem:
                raise _refuse(member.name, problem)
            if member.issym() or member.islnk():
                raise _refuse(member.name, "is a link")
            if member.isdir():
                dirs += 1
            elif member.isreg():
                files += 1
                unpacked += member.size
            else:
                raise _refuse(member.name, "is a device, FIFO or other special file")
            _check_totals(files + dirs, unpacked, max_unpacked)
    return ArchiveSummary("tar", files, dirs, unpacked)


def _inspect_zip(path: Path, max_unpacked: int) -> ArchiveSummary:
    files = dirs = unpacked = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            problem = entry_problem(info.filename)
            if problem:
                raise _refuse(info.filename, problem)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _refuse(info.filename, "is a link")
            if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _refuse(info.filename, "is a device, FIFO or other special file")
            if info.is_dir():
                dirs += 1
            else:
                files += 1
                unpacked += info.file_size
            _check_totals(files + dirs, unpacked, max_unpacked)
        bad = archive.testzip()  # reads every member: CRC errors and truncation show up now, not on the agents
        if bad is not None:
            raise InvalidRequest(f"archive entry {bad!r} is corrupt (CRC mismatch)", name="archive")
    return ArchiveSummary("zip", files, dirs, unpacked)


def inspect_archive(path: Path, max_unpacked: int) -> ArchiveSummary:
    """Check an archive; InvalidRequest (400) says what is wrong with it."""
    try:
        if zipfile.is_zipfile(path):
            return _inspect_zip(path, max_unpacked)
        if tarfile.is_tarfile(path):
            return _inspect_tar(path, max_unpacked)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise InvalidRequest(f"the archive is corrupt or truncated: {err}", name="archive") from err
    raise InvalidRequest("the upload is not a readable zip or tar archive (tar, tar.gz, tar.bz2, tar.xz)",
                         name="archive")
