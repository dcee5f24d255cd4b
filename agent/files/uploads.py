"""Staged uploads for PUT /api/files/content/{id}: whole bodies and chunk series, applied atomically.

Protocol (a superset of upstream's, see docs/compatibility.md):

* Without Content-Range the body streams into a staging file next to the target, which then replaces the
  target in one rename. A failed or cut-off upload leaves the old content in place.
* With `Content-Range: bytes a-b/total` the chunk is written at offset `a` of a staging file that belongs to
  the upload of that file with that total size (key = sha256 of file id text + total). Chunks may come in any
  order, overlap, repeat, or run concurrently. The received spans are kept in a sidecar JSON file under
  `<state dir>/uploads/`, written only after the chunk's bytes are on disk (fdatasync), so a crash or restart
  never counts a chunk that was not stored and the series can be resumed.
* While bytes are missing, the PUT answers **202** with header `X-Missing-Ranges: bytes=a-b,c-d` and a JSON
  body `{"total": N, "received": bytes, "missing": [{"first": a, "last": b}, ...]}`; the target is untouched.
* The chunk that completes the series answers **200** with an empty body (as upstream): the staging file is
  synced and renamed over the target (mode and owner kept), and the sidecar is removed.
* `Content-Range: bytes */total` with an empty body asks for the state of that series: 202 as above, or 404
  when no such upload is in progress.
* Staging files are dot-files named `.iisfleet-upload-<key>.part` (hidden from listings); series untouched
  for STALE_SECONDS are removed when another upload starts. They are opened through agent.files.staging,
  which never follows a link planted at their name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.files.paths import STAGING_PREFIX, id_text
from agent.files.ranges import Span, merge, missing
from agent.files.staging import adopt_mode, create_staging, open_staging
from shared.errors import InvalidParameter
from shared.fsutil import atomic_write_text, fsync_dir

WRITE_BLOCK = 4 * 1024 * 1024
"""Bytes gathered from the socket before one pwrite: bounds memory per upload, keeps thread hops few."""
STALE_SECONDS = 24 * 3600


@dataclass(slots=True)
class Series:
    """One chunked upload in progress."""

    key: str
    path: str
    total: int
    staging: str
    received: list[Span] = field(default_factory=list)
    done: bool = False

    @property
    def missing(self) -> list[Span]:
        """Spans not yet received."""
        return missing(self.received, self.total)

    @property
    def received_bytes(self) -> int:
        """Bytes received so far."""
        return sum(b - a + 1 for a, b in self.received)


def series_key(path: str, total: int) -> str:
    """The key of the upload of `path` with `total` bytes."""
    return hashlib.sha256(f"{id_text(path)}\n{total}".encode()).hexdigest()[:40]


async def write_stream(fd: int, offset: int, chunks: AsyncIterator[bytes], limit: int | None) -> int:
    """Write a request body at `offset`; 400 `Content-Length` past `limit` bytes.

    Pieces of WRITE_BLOCK bytes go to a worker thread while the next piece is read from the socket, so disk
    and network overlap; at most two blocks are held at once, whatever the body size.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[int] | None = None
    buffer = bytearray()
    queued = 0
    try:
        async for data in chunks:
            buffer += data
            if limit is not None and queued + len(buffer) > limit:
                raise InvalidParameter("Content-Length", "The body is longer than the Content-Range.")
            if len(buffer) >= WRITE_BLOCK:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, _pwrite_all, fd, bytes(buffer), offset + queued)
                queued += len(buffer)
                buffer.clear()
        if pending is not None:
            await pending
            pending = None
        if buffer:
            queued += await asyncio.to_thread(_pwrite_all, fd, bytes(buffer), offset + queued)
    finally:
        if pending is not None:
            # The caller closes fd next: the write in flight must finish first, even when we are failing.
            await asyncio.wait([pending])
    return queued


def _pwrite_all(fd: int, data: bytes, offset: int) -> int:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
    return len(data)


def replace_target(staging: str, target: str) -> None:
    """Sync the staging file and rename it over the target, keeping the target's mode and owner."""
    fd = open_staging(staging, os.O_RDONLY)
    try:
        adopt_mode(fd, staging, target)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staging, target)
    fsync_dir(Path(target).parent)


class Uploads:
    """Chunk series of this agent, persisted under `<state dir>/uploads`."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "uploads"
        self._locks: dict[str, asyncio.Lock] = {}
        self._writers: dict[str, int] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _sidecar(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def _load(self, key: str) -> Series | None:
        try:
            raw = json.loads(self._sidecar(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        received = [(int(a), int(b)) for a, b in raw["received"]]
        return Series(key, str(raw["path"]), int(raw["total"]), str(raw["staging"]), received)

    def _save(self, series: Series) -> None:
        body = {"path": series.path, "total": series.total, "staging": series.staging, "received": series.received}
        atomic_write_text(self._sidecar(series.key), json.dumps(body))

    async def find(self, path: str, total: int) -> Series | None:
        """The series in progress for this file and total, if any."""
        key = series_key(path, total)
        async with self._lock(key):
            return await asyncio.to_thread(self._load, key)

    async def begin(self, path: str, total: int) -> Series:
        """Load or start the series for this file and total and count one writer in it."""
        key = series_key(path, total)
        async with self._lock(key):
            series = await asyncio.to_thread(self._begin, key, path, total)
            self._writers[key] = self._writers.get(key, 0) + 1
            return series

    def _begin(self, key: str, path: str, total: int) -> Series:
        series = self._load(key)
        if series is not None and os.path.exists(series.staging):
            return series
        self.sweep()
        staging = os.path.join(os.path.dirname(path), f"{STAGING_PREFIX}upload-{key}.part")
        fd = create_staging(staging)
        try:
            os.ftruncate(fd, total)
        finally:
            os.close(fd)
        series = Series(key, path, total, staging)
        self._save(series)
        return series

    async def end(self, series: Series, span: Span | None) -> Series:
        """Release a writer, counting its chunk (None when it failed).

        The series completes only when nothing is missing and no other writer of it is still running, so
        no late writer can hold a descriptor on the staging file once it has become the target.
        """
        # Released before the first await, so even a cancelled handler cannot leave the series waiting forever.
        self._writers[series.key] = self._writers.get(series.key, 1) - 1
        async with self._lock(series.key):
            last_writer = self._writers.get(series.key, 0) <= 0
            current = await asyncio.to_thread(self._record, series, span, last_writer)
            if current.done:
                self._writers.pop(series.key, None)
                self._locks.pop(series.key, None)
            return current

    def _record(self, series: Series, span: Span | None, last_writer: bool) -> Series:
        current = self._load(series.key) or series
        if span is not None:
            current.received = merge(current.received, span)
            self._save(current)
        if last_writer and not current.missing:
            replace_target(current.staging, current.path)
            self._sidecar(current.key).unlink(missing_ok=True)
            current.done = True
        return current

    def sweep(self, max_age: float = STALE_SECONDS) -> None:
        """Drop series nobody has touched for `max_age` seconds, with their staging files."""
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            return
        cutoff = time.time() - max_age
        for sidecar in self.dir.glob("*.json"):
            with contextlib.suppress(OSError):
                if sidecar.stat().st_mtime < cutoff:
                    series = self._load(sidecar.stem)
                    if series is not None:
                        Path(series.staging).unlink(missing_ok=True)
                    sidecar.unlink(missing_ok=True)
