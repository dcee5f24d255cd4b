"""Content-addressed version folders: link unchanged files from a base version, receive only the rest.

A build is two calls (see agent/api/resources/version_builds.py). `plan` checks a manifest of (path, size,
mode, sha256), creates the hidden staging folder `<parent>/.iisfleet-build-<name>`, hard-links every file the
base version holds with the same digest, size and mode, and returns the paths still missing. `receive` reads
an uncompressed tar of exactly those files, checks each against the manifest while writing it, and renames
the staging folder into place, so the version folder exists complete or not at all; what is fsynced when is
agent/files/durability.py.

Which digest a base file has comes from the record the agent keeps of every version it built (under its
state directory, `version-records/<sha256 of the folder's path>.json`, with each file's inode, size and
mtime, so the versions folder holds only versions); a file whose stat no longer matches its record, or a
base without a record, is hashed instead of trusted. No name in a manifest
or tar may escape the folder (`..`, absolute, NUL, links, devices: shared/archives.py rules).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent.files.durability import BuildSync, sync_rename
from agent.files.paths import STAGING_PREFIX, valid_name
from shared import archives
from shared.fsutil import atomic_write_bytes

BLOCK = 1024 * 1024
MAX_BYTES = 16 * 1024**3


class BuildRefused(ValueError):
    """A manifest or stream that must not be used; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One file of a version: where, how big, executable or not, and its content digest."""

    path: str
    size: int
    mode: int
    sha256: str


def _mode(raw: Any) -> int:
    if not isinstance(raw, int) or raw < 0:
        raise BuildRefused("mode must be a non-negative integer")
    return 0o755 if raw & 0o100 else 0o644


def _path(raw: Any) -> str:
    if not isinstance(raw, str):
        raise BuildRefused("every entry needs a string path")
    problem = archives.entry_problem(raw)
    parts = [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".")]
    if problem or not parts or not all(valid_name(part) for part in parts):
        raise BuildRefused(f"path {raw!r} {problem or 'is not a valid relative file name'}")
    return "/".join(parts)


def parse_manifest(raw: Any) -> tuple[list[ManifestFile], list[str]]:
    """(files, directories) of a manifest `{"files": [...], "directories": [...]}`, refusing unsafe entries."""
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), list):
        raise BuildRefused("manifest must be an object with a files list")
    dirs_raw = raw.get("directories", [])
    if not isinstance(dirs_raw, list):
        raise BuildRefused("manifest.directories must be a list")
    if len(raw["files"]) + len(dirs_raw) > archives.MAX_ENTRIES:
        raise BuildRefused(f"the manifest has more than {archives.MAX_ENTRIES} entries")
    files: dict[str, ManifestFile] = {}
    total = 0
    for item in raw["files"]:
        if not isinstance(item, dict):
            raise BuildRefused("every file entry must be an object")
        path = _path(item.get("path"))
        size, digest = item.get("size"), item.get("sha256")
        if not isinstance(size, int) or size < 0:
            raise BuildRefused(f"{path!r}: size must be a non-negative integer")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise BuildRefused(f"{path!r}: sha256 must be 64 lower-case hex digits")
        if path in files:
            raise BuildRefused(f"{path!r} appears twice")
        total += size
        files[path] = ManifestFile(path, size, _mode(item.get("mode", 0o644)), digest)
    if total > MAX_BYTES:
        raise BuildRefused(f"the manifest adds up to more than {MAX_BYTES} bytes")
    dirs = sorted({_path(item) for item in dirs_raw})
    parents = {"/".join(path.split("/")[:cut]) for path in [*files, *dirs] for cut in range(1, path.count("/") + 1)}
    clash = (parents | set(dirs)) & set(files)
    if clash:
        raise BuildRefused(f"{sorted(clash)[0]!r} is both a file and a directory")
    return list(files.values()), dirs


def staging_dir(parent: str, name: str) -> str:
    """The hidden folder a version is built in."""
    return os.path.join(parent, f"{STAGING_PREFIX}build-{name}")


def record_file(records: Path, folder: str, kind: str = "version") -> Path:
    """Where the agent keeps the record of a version folder (kind "version") or of a planned build ("plan")."""
    digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape")).hexdigest()
    return records / f"{kind}-{digest}.json"


class _Dirs:
    """Creates folders inside a root and checks, once per folder, that it resolves inside the root."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.real = os.path.realpath(root)
        self.checked: set[str] = set()

    def place(self, relative: str) -> str:
        """The path of `relative` in the root, its folder created and checked (links are never followed)."""
        target = os.path.join(self.root, *relative.split("/"))
        folder = os.path.dirname(target)
        if folder not in self.checked:
            os.makedirs(folder, 0o755, exist_ok=True)
            where = os.path.realpath(folder)
            if where != self.real and not where.startswith(self.real + os.sep):
                raise BuildRefused(f"{relative!r} escapes the version folder")
            self.checked.add(folder)
        return target


def file_sha256(path: str) -> str:
    """The sha256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _base_digests(records: Path, base: str) -> dict[str, tuple[str, os.stat_result]]:
    """Relative path -> (sha256, stat) of the base version's regular files; record first, hashing the rest."""
    try:
        record = json.loads(record_file(records, base).read_bytes())
        known = {row["path"]: row for row in record.get("files", []) if isinstance(row, dict)}
    except (OSError, ValueError, TypeError):
        known = {}
    found: dict[str, tuple[str, os.stat_result]] = {}
    for folder, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(folder, d))]
        for filename in filenames:
            full = os.path.join(folder, filename)
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = os.path.relpath(full, base).replace(os.sep, "/")
            row = known.get(relative)
            same = row is not None and (row.get("ino"), row.get("size"), row.get("mtime_ns")) == (
                info.st_ino, info.st_size, info.st_mtime_ns)
            found[relative] = (str(row["sha256"]) if same and row else "", info)
    return found


def plan(
    records: Path, parent: str, name: str, base: str | None, files: list[ManifestFile], dirs: list[str]
) -> dict[str, Any]:
    """Create the staging folder with every linkable file; what is still missing (paths, bytes)."""
    staging = staging_dir(parent, name)
    shutil.rmtree(staging, ignore_errors=True)  # a build cut short before: start it again
    os.mkdir(staging, 0o755)
    places = _Dirs(staging)
    for directory in dirs:
        os.makedirs(places.place(directory + "/."), 0o755, exist_ok=True)
    have = _base_digests(records, base) if base else {}
    missing: list[str] = []
    linked = linked_bytes = 0
    for entry in files:
        source = have.get(entry.path)
        if source is not None and base is not None:
            digest, info = source
            source_path = os.path.join(base, *entry.path.split("/"))
            if info.st_size == entry.size and stat.S_IMODE(info.st_mode) == entry.mode:
                if not digest:
                    digest = file_sha256(source_path)
                if digest == entry.sha256:
                    os.link(source_path, places.place(entry.path), follow_symlinks=False)
                    linked += 1
                    linked_bytes += entry.size
                    continue
        missing.append(entry.path)
    manifest = {"files": [vars_of(entry) for entry in files], "directories": dirs}
    records.mkdir(mode=0o700, exist_ok=True)
    atomic_write_bytes(record_file(records, staging, "plan"), json.dumps(manifest).encode())
    return {"missing": missing, "linked": linked, "linked_bytes": linked_bytes}


def vars_of(entry: ManifestFile) -> dict[str, Any]:
    """A manifest entry as JSON."""
    return {"path": entry.path, "size": entry.size, "mode": entry.mode, "sha256": entry.sha256}


def _members(stream: IO[bytes]) -> Iterator[archives.Entry]:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        yield from archives.tar_members(archive)


def receive(records: Path, parent: str, name: str, stream: IO[bytes]) -> tuple[str, int]:
    """Write the missing files from an uncompressed tar stream, check the whole folder, rename it into place."""
    staging = staging_dir(parent, name)
    plan_file = record_file(records, staging, "plan")
    try:
        manifest = json.loads(plan_file.read_bytes())
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"no build {name!r} was planned") from err
    files = {row["path"]: ManifestFile(**row) for row in manifest["files"]}
    if not os.path.isdir(staging):
        raise FileNotFoundError(f"no build {name!r} was planned")
    places = _Dirs(staging)
    sync = BuildSync()
    try:
        received = _write_members(stream, files, places, sync)
        rows = _check_folder(staging, files)
        sync.finish(staging)
    finally:
        sync.close()
    target = os.path.join(parent, name)
    if os.path.lexists(target):
        raise FileExistsError(target)
    atomic_write_bytes(record_file(records, target), json.dumps({"folder": target, "files": rows}).encode())
    sync_rename(staging, target)
    plan_file.unlink(missing_ok=True)
    return target, received


def _write_members(stream: IO[bytes], files: dict[str, ManifestFile], places: _Dirs, sync: BuildSync) -> int:
    """Write each tar member the manifest expects, checking size and sha256; the bytes received."""
    received = 0
    for entry in _members(stream):
        if entry.is_dir or not entry.name:
            continue
        expected = files.get(entry.name)
        if expected is None:
            raise BuildRefused(f"{entry.name!r} is not in the manifest")
        if entry.size != expected.size:
            raise BuildRefused(f"{entry.name!r} is {entry.size} bytes, the manifest says {expected.size}")
        target = places.place(entry.name)
        # O_EXCL and O_NOFOLLOW: a linked file, a duplicate entry or a planted link is refused, never followed.
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, expected.mode)
        except FileExistsError:
            raise BuildRefused(f"{entry.name!r} arrived twice or was already linked from the base") from None
        digest = hashlib.sha256()
        assert entry.open is not None
        with os.fdopen(fd, "wb") as out, entry.open() as content:
            while block := content.read(BLOCK):
                digest.update(block)
                out.write(block)
            out.flush()
            sync.start_writeback(out.fileno())
        if digest.hexdigest() != expected.sha256:
            raise BuildRefused(f"{entry.name!r} does not match its sha256")
        os.chmod(target, expected.mode)
        sync.file_written(target)
        received += entry.size
    return received


def _check_folder(staging: str, files: dict[str, ManifestFile]) -> list[dict[str, Any]]:
    """Every manifest file is in the staging folder as described; the version record's rows."""
    rows = []
    for wanted in files.values():
        path = os.path.join(staging, *wanted.path.split("/"))
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise BuildRefused(f"{wanted.path!r} was neither linked nor received") from None
        if not stat.S_ISREG(info.st_mode) or info.st_size != wanted.size:
            raise BuildRefused(f"{wanted.path!r} is not the file the manifest describes")
        rows.append({**vars_of(wanted), "ino": info.st_ino, "mtime_ns": info.st_mtime_ns})
    return rows


def discard(records: Path, parent: str, name: str) -> None:
    """Remove what a failed build left behind."""
    staging = staging_dir(parent, name)
    shutil.rmtree(staging, ignore_errors=True)
    record_file(records, staging, "plan").unlink(missing_ok=True)


def prune_records(records: Path) -> None:
    """Drop the records of version folders that are gone (pruned or deleted versions)."""
    for path in records.glob("version-*.json"):
        try:
            folder = json.loads(path.read_bytes()).get("folder")
        except (OSError, ValueError, AttributeError):
            folder = None
        if not isinstance(folder, str) or not os.path.isdir(folder):
            path.unlink(missing_ok=True)
