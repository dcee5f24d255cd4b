"""Safe iteration over deploy archives (zip, tar, tar.gz/bz2/xz), shared by the controller and the agent.

An entry is refused when its name would land outside the target directory (`..`, an absolute path, a drive
letter, a NUL) or when it is anything but a regular file or a directory (symbolic or hard links, devices,
FIFOs). The controller checks an archive with these rules before it sends it anywhere; the agent applies
them again while it unpacks, since it must not trust its caller.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO

MAX_ENTRIES = 200_000
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRefused(ValueError):
    """An archive that must not be unpacked; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member: its safe relative name ("" for the root itself), kind, size and content."""

    name: str
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]] | None
    """Opens the content of a file entry; call it before moving to the next entry (tar streams)."""


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


def _relative(name: str) -> str:
    problem = entry_problem(name)
    if problem:
        raise ArchiveRefused(f"archive entry {name!r} {problem}")
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _zip_entries(archive: zipfile.ZipFile) -> Iterator[Entry]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRefused(f"archive entry {info.filename!r} is a link")
        # Python's writestr and some tools store permission bits without a file type: that is a plain file.
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ArchiveRefused(f"archive entry {info.filename!r} is a device, FIFO or other special file")
        name = _relative(info.filename)
        if info.is_dir():
            yield Entry(name, True, 0, None)
        else:
            yield Entry(name, False, info.file_size, partial(archive.open, info))


def _tar_content(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    content = archive.extractfile(member)
    if content is None:  # only regular files reach here, and those always have content
        raise ArchiveRefused(f"archive entry {member.name!r} has no content")
    return content


def _tar_entries(archive: tarfile.TarFile) -> Iterator[Entry]:
    for member in archive:
        if member.issym() or member.islnk():
            raise ArchiveRefused(f"archive entry {member.name!r} is a link")
        if not (member.isreg() or member.isdir()):
            raise ArchiveRefused(f"archive entry {member.name!r} is a device, FIFO or other special file")
        name = _relative(member.name)
        if member.isdir():
            yield Entry(name, True, 0, None)
        else:
            yield Entry(name, False, member.size, partial(_tar_content, archive, member))


def tar_members(archive: tarfile.TarFile, *, max_entries: int = MAX_ENTRIES) -> Iterator[Entry]:
    """Every entry of an open tar (a stream too), refusing unsafe ones and archives past `max_entries`."""
    for count, entry in enumerate(_tar_entries(archive), start=1):
        if count > max_entries:
            raise ArchiveRefused(f"the archive has more than {max_entries} entries")
        yield entry


def entries(path: str, *, max_entries: int = MAX_ENTRIES) -> Iterator[Entry]:
    """Every entry of a zip or tar archive, refusing unsafe ones; corrupt archives raise their own errors."""
    count = 0
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for entry in _zip_entries(archive):
                count += 1
                if count > max_entries:
                    raise ArchiveRefused(f"the archive has more than {max_entries} entries")
                yield entry
        return
    if not tarfile.is_tarfile(path):
        raise ArchiveRefused("not a readable zip or tar archive (tar, tar.gz, tar.bz2, tar.xz)")
    # Iterating a tar reads the whole (decompressed) stream, so truncation fails here, not later.
    with tarfile.open(path, mode="r:*") as archive:
        for entry in _tar_entries(archive):
            count += 1
            if count > max_entries:
                raise ArchiveRefused(f"the archive has more than {max_entries} entries")
            yield entry


CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError)
"""What a corrupt or truncated archive raises while it is read."""
