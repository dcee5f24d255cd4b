"""The blob store: file contents uploaded once each, kept by their sha256 (incremental `iisfleet deploy DIR`).

Layout: `<artifact dir>/blobs/<sha[:2]>/<sha>`. A blob arrives alone (PUT /api/artifacts/blobs/{sha256}) or
with others as one uncompressed tar whose members are named by their sha256 (POST /api/artifacts/blobs). Every
blob is hashed while it arrives, written to a temp file and renamed into place only when its digest is the
name it was sent under, so a stored blob always holds its digest's content. Blobs are not fsynced: a blob a
crash cut short no longer has its size, and manifests.py reports it missing again (the agents check every
file's sha256 on receipt as well). Retention (retention.py) removes the old ones no manifest references.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tarfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from aiohttp import StreamReader

from controller.services.artifacts import SHA256
from controller.services.errors import InvalidRequest, TooLarge
from controller.settings import ControllerSettings

FLUSH = 1024 * 1024
"""Bytes gathered in memory before a write (a small blob costs one thread hop, not one per chunk)."""


def blob_dir(settings: ControllerSettings) -> Path:
    """Where blobs live."""
    return settings.artifact_dir / "blobs"


def blob_path(settings: ControllerSettings, sha256: str) -> Path:
    """The file of one blob."""
    if not SHA256.match(sha256):
        raise InvalidRequest(f"{sha256!r} is not a sha256 digest (64 lowercase hex digits)", name="sha256")
    return blob_dir(settings) / sha256[:2] / sha256


def has_blob(settings: ControllerSettings, sha256: str, size: int) -> bool:
    """True when the blob is stored with this size; its mtime is refreshed so retention keeps it a while."""
    path = blob_path(settings, sha256)
    try:
        if path.stat().st_size != size:
            return False
        os.utime(path)
        return True
    except OSError:
        return False


def _write(handle: IO[bytes] | None, tmp: Path, data: bytes) -> IO[bytes]:
    if handle is None:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        handle = open(tmp, "xb")  # noqa: SIM115 - closed by _finish or _drop
    handle.write(data)
    return handle


def _finish(handle: IO[bytes] | None, tmp: Path, final: Path) -> None:
    if handle is None:  # the empty blob
        tmp.parent.mkdir(parents=True, exist_ok=True)
        handle = open(tmp, "xb")  # noqa: SIM115
    handle.close()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)  # same digest, same content: a concurrent upload of it changes nothing


def _drop(handle: IO[bytes] | None, tmp: Path) -> None:
    if handle is not None:
        handle.close()
    tmp.unlink(missing_ok=True)


async def store_blob(
    settings: ControllerSettings, sha256: str, chunks: AsyncIterator[bytes], size: int | None = None
) -> int:
    """Store one blob from its chunks, checking the digest (400) and the size limit (413); its size."""
    final = blob_path(settings, sha256)
    tmp = settings.artifact_dir / "tmp" / f"blob-{uuid.uuid4().hex}.part"
    if size is not None and size > settings.artifact_max_bytes:
        raise TooLarge(f"a blob is limited to {settings.artifact_max_bytes} bytes")
    digest = hashlib.sha256()
    handle: IO[bytes] | None = None
    pending = bytearray()
    total = 0
    filed = False
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > settings.artifact_max_bytes:
                raise TooLarge(f"a blob is limited to {settings.artifact_max_bytes} bytes")
            digest.update(chunk)
            pending += chunk
            if len(pending) >= FLUSH:
                handle = await asyncio.to_thread(_write, handle, tmp, bytes(pending))
                pending.clear()
        if digest.hexdigest() != sha256:
            raise InvalidRequest(f"the content's sha256 is {digest.hexdigest()}, not {sha256}", name="sha256")
        if pending:
            handle = await asyncio.to_thread(_write, handle, tmp, bytes(pending))
        await asyncio.to_thread(_finish, handle, tmp, final)
        filed = True
        return total
    finally:
        if not filed and handle is not None:
            await asyncio.to_thread(_drop, handle, tmp)


async def _exactly(content: StreamReader, size: int) -> AsyncIterator[bytes]:
    left = size
    while left > 0:
        chunk = await content.read(min(left, FLUSH))
        if not chunk:
            raise InvalidRequest("the tar stream ended inside a blob", name="body")
        left -= len(chunk)
        yield chunk


async def store_blob_tar(settings: ControllerSettings, content: StreamReader) -> dict[str, int]:
    """Store every member of an uncompressed tar of blobs (each named by its sha256); counts."""
    stored = stored_bytes = 0
    started = time.monotonic()
    while True:
        try:
            header = await content.readexactly(tarfile.BLOCKSIZE)
        except asyncio.IncompleteReadError as err:
            if not err.partial and stored:
                break  # no end blocks: accepted, every member before was complete
            raise InvalidRequest("the body is not a complete tar of blobs", name="body") from err
        if header == bytes(tarfile.BLOCKSIZE):
            break
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.TarError as err:
            raise InvalidRequest(f"a tar header is not valid: {err}", name="body") from err
        if not info.isreg():
            raise InvalidRequest(f"{info.name!r} is not a regular file; send blobs only", name="body")
        await store_blob(settings, info.name, _exactly(content, info.size), info.size)
        padding = -info.size % tarfile.BLOCKSIZE
        if padding:
            await content.readexactly(padding)
        stored += 1
        stored_bytes += info.size
    return {"stored": stored, "bytes": stored_bytes, "millis": int((time.monotonic() - started) * 1000)}
