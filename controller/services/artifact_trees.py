"""An artifact unpacked once into a content tree with its manifest, and the tar stream of some of its files.

Incremental deploys (actions/deploy_build.py) send each agent the manifest (path, size, mode, sha256) and
then only the files it lacks, as one uncompressed tar. The tree lives next to the archive,
`<sha[:2]>/<sha>.tree/`, with `<sha>.manifest.json`; both are derived from the immutable archive, built in
a temp folder and renamed into place, so concurrent steps (or workers) may race to build them harmlessly.
Files get mode 0644 whatever the archive says, as archive-extract does, so a full and an incremental deploy
of one tree give the same folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from controller.services.artifacts import artifact_path
from controller.settings import ControllerSettings
from shared import archives
from shared.fsutil import atomic_write_text

BLOCK = 1024 * 1024
FILE_MODE = 0o644
_LOCKS: dict[str, asyncio.Lock] = {}


def _build(archive: Path, tree: Path, manifest: Path) -> None:
    temp = tree.with_name(f".{tree.name}-{uuid.uuid4().hex[:8]}")
    temp.mkdir()
    files: list[dict[str, Any]] = []
    dirs: list[str] = []
    try:
        for entry in archives.entries(str(archive)):
            if not entry.name:
                continue
            target = temp.joinpath(*entry.name.split("/"))
            if entry.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                dirs.append(entry.name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            assert entry.open is not None
            with open(target, "xb") as out, entry.open() as content:
                while block := content.read(BLOCK):
                    digest.update(block)
                    out.write(block)
            files.append({"path": entry.name, "size": entry.size, "mode": FILE_MODE, "sha256": digest.hexdigest()})
        try:
            os.rename(temp, tree)
        except OSError:
            if not tree.is_dir():
                raise
        atomic_write_text(manifest, json.dumps({"files": files, "directories": dirs}, separators=(",", ":")))
    finally:
        shutil.rmtree(temp, ignore_errors=True)


async def artifact_tree(settings: ControllerSettings, sha256: str) -> tuple[Path, dict[str, Any]]:
    """(unpacked tree, manifest) of a stored artifact, built on first use."""
    archive = artifact_path(settings, sha256)
    tree = archive.with_name(f"{sha256}.tree")
    manifest = archive.with_name(f"{sha256}.manifest.json")
    lock = _LOCKS.setdefault(sha256, asyncio.Lock())
    async with lock:
        if not await asyncio.to_thread(manifest.exists):
            await asyncio.to_thread(_build, archive, tree, manifest)
    text = await asyncio.to_thread(manifest.read_text, encoding="utf-8")
    return tree, dict(json.loads(text))


def _header(path: str, size: int, mode: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = mode
    info.mtime = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _small_files(tree: Path, items: list[dict[str, Any]]) -> bytes:
    """Headers, contents and padding of several small files, read in one go (one thread hop for all)."""
    parts: list[bytes] = []
    for item in items:
        size = int(item["size"])
        parts.append(_header(item["path"], size, int(item["mode"])))
        with open(tree.joinpath(*item["path"].split("/")), "rb") as handle:
            data = handle.read(size)
        if len(data) != size:
            raise OSError(f"{item['path']} in the artifact tree is shorter than its manifest says")
        parts.append(data)
        parts.append(bytes(-size % tarfile.BLOCKSIZE))
    return b"".join(parts)


def _groups(files: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Runs of consecutive files under BLOCK bytes together (read as one), each larger file alone."""
    groups: list[list[dict[str, Any]]] = []
    run: list[dict[str, Any]] = []
    total = 0
    for item in files:
        size = int(item["size"])
        if size >= BLOCK:
            if run:
                groups.append(run)
                run, total = [], 0
            groups.append([item])
            continue
        if run and total + size > BLOCK:
            groups.append(run)
            run, total = [], 0
        run.append(item)
        total += size
    if run:
        groups.append(run)
    return groups


async def _large_file(tree: Path, item: dict[str, Any], sent: list[int]) -> AsyncIterator[bytes]:
    header = _header(item["path"], int(item["size"]), int(item["mode"]))
    sent[0] += len(header)
    yield header
    handle = await asyncio.to_thread(open, tree.joinpath(*item["path"].split("/")), "rb")
    try:
        remaining = int(item["size"])
        while remaining > 0:
            block = await asyncio.to_thread(handle.read, min(BLOCK, remaining))
            if not block:
                raise OSError(f"{item['path']} in the artifact tree is shorter than its manifest says")
            remaining -= len(block)
            sent[0] += len(block)
            yield block
    finally:
        handle.close()
    padding = -int(item["size"]) % tarfile.BLOCKSIZE
    if padding:
        sent[0] += padding
        yield b"\0" * padding


async def tar_stream(tree: Path, files: list[dict[str, Any]], sent: list[int]) -> AsyncIterator[bytes]:
    """An uncompressed tar of these manifest files from the tree, block by block; adds its bytes to sent[0].

    Small files travel in runs of up to BLOCK bytes read in one thread hop: a deploy of many small files
    otherwise spends more on hops (an open and a read each) than on the bytes.
    """
    for group in _groups(files):
        if len(group) == 1 and int(group[0]["size"]) >= BLOCK:
            async for block in _large_file(tree, group[0], sent):
                yield block
            continue
        block = await asyncio.to_thread(_small_files, tree, group)
        sent[0] += len(block)
        yield block
    sent[0] += 2 * tarfile.BLOCKSIZE
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
