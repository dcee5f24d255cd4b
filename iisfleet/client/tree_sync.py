"""`iisfleet deploy DIR`, incremental: send the tree's manifest, upload only the contents the controller lacks.

1. Walk DIR: every file's path, size, mode and sha256, and every folder (symbolic links are refused).
2. POST /api/artifacts/manifests: the controller answers with the digests its blob store lacks.
3. Upload those contents as uncompressed tars of blobs (POST /api/artifacts/blobs), in batches of at most
   BATCH_BYTES so a progress bar moves and a failed batch costs little.
4. POST the manifest again: 201 and the artifact (named by the manifest's sha256) that the job deploys.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from iisfleet.client.http import ClientError, Controller

BLOCK = 1024 * 1024
BATCH_BYTES = 64 * 1024 * 1024
BATCH_FILES = 2000


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def scan(root: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """(manifest, digest -> one local file with that content) of a directory tree."""
    files: list[dict[str, Any]] = []
    dirs: list[str] = []
    where: dict[str, Path] = {}
    for folder, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(folder)
        for name in [*dirnames, *sorted(filenames)]:
            path = base / name
            info = path.lstat()
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                raise ClientError(f"{path} is a symbolic link; deploys carry regular files only")
            if stat.S_ISDIR(info.st_mode):
                dirs.append(relative)
            elif stat.S_ISREG(info.st_mode):
                digest = _sha256(path)
                files.append({"path": relative, "size": info.st_size, "mode": stat.S_IMODE(info.st_mode),
                              "sha256": digest})
                where.setdefault(digest, path)
            else:
                raise ClientError(f"{path} is not a regular file or folder")
    return {"name": root.resolve().name or "tree", "files": files, "directories": dirs}, where


def _header(digest: str, size: int) -> bytes:
    info = tarfile.TarInfo(digest)
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _tar(blobs: list[tuple[str, Path, int]], progress: Progress | None, task: Any) -> Iterator[bytes]:
    for digest, path, size in blobs:
        yield _header(digest, size)
        sent = 0
        with path.open("rb") as handle:
            while sent < size and (block := handle.read(min(BLOCK, size - sent))):
                sent += len(block)
                yield block
                if progress is not None:
                    progress.advance(task, len(block))
        if sent != size:
            raise ClientError(f"{path} changed while it was uploaded; run the deploy again")
        if size % tarfile.BLOCKSIZE:
            yield bytes(tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield bytes(2 * tarfile.BLOCKSIZE)


def _batches(blobs: list[tuple[str, Path, int]]) -> Iterator[list[tuple[str, Path, int]]]:
    batch: list[tuple[str, Path, int]] = []
    total = 0
    for item in blobs:
        if batch and (total + item[2] > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item[2]
    if batch:
        yield batch


def _length(batch: list[tuple[str, Path, int]]) -> int:
    return sum(tarfile.BLOCKSIZE + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE for _d, _p, size in batch) \
        + 2 * tarfile.BLOCKSIZE


def sync_tree(controller: Controller, root: Path, as_json: bool) -> dict[str, Any]:
    """Make the tree an artifact on the controller, uploading only missing contents; the artifact summary."""
    manifest, where = scan(root)
    answer = controller.call("POST", "/api/artifacts/manifests", manifest)
    sizes = {str(item["sha256"]): int(item["size"]) for item in manifest["files"]}
    missing = [(digest, where[digest], sizes[digest]) for digest in answer["missing"]]
    uploaded = sum(size for _d, _p, size in missing)
    progress = None if as_json or not missing else Progress(
        TextColumn("[bold]upload"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    if progress is not None:
        progress.start()
    try:
        task = progress.add_task("upload", total=uploaded) if progress is not None else None
        for batch in _batches(missing):
            controller.send("POST", "/api/artifacts/blobs", _tar(batch, progress, task), _length(batch),
                            "application/x-tar")
    finally:
        if progress is not None:
            progress.stop()
    answer = controller.call("POST", "/api/artifacts/manifests", manifest)
    if answer.get("artifact") is None:
        raise ClientError(f"the controller still lacks {len(answer['missing'])} contents after the upload")
    artifact = dict(answer["artifact"])
    line = {"type": "artifact.synced", "sha256": artifact["sha256"], "files": len(manifest["files"]),
            "uploaded_files": len(missing), "uploaded_bytes": uploaded}
    if as_json:
        print(json.dumps(line), flush=True)
    else:
        print(f"artifact {artifact['sha256'][:12]}: {line['files']} files, {len(missing)} new contents "
              f"({uploaded} bytes) uploaded")
    return artifact
