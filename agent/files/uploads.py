"""Staged uploads for PUT /api/files/content/{id}: whole bodies and chunk series, applied atomically.

Protocol (a superset of upstream's, see docs/compatibility.md):

* Without Content-Range the body streams into a staging file next to the target, which then replaces the
  target in one rename. A failed or cut-off upload leaves the old content in place.
* With `Content-Range: bytes a-b/total` the chunk is written at offset `a` of a staging file that belongs to
  the upload of that file with that total size (key = sha256 of file id text + total). Chunks may come in any
  order, overlap, repeat, or run concurrently. A chunk counts as received once written; every FLUSH_BEHIND
  bytes (and on completion) the staging file is fdatasynced and only then are the received spans saved in a
  sidecar JSON file under `<state dir>/uploads/`, so a crash or restart never counts a chunk that was not
  stored (at worst recent chunks are listed as missing again) and the series can be resumed.
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
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.files.paths import STAGING_PREFIX, id_text
from agent.files.ranges import Span, merge, missing
from agent.files.staging import adopt_mode, create_staging, open_staging
from shared.errors import InvalidParameter
from shared.fsutil import fsync_dir

WRITE_BLOCK = 8 * 1024 * 1024
"""Bytes gathered from the socket before one write: bounds memory per upload, keeps thread hops few."""
MAX_IOV = 512
"""Socket pieces in one pwritev (IOV_MAX is 1024 on Linux); a block is written sooner when it has this many."""
FLUSH_BEHIND = 64 * 1024 * 1024
"""Written bytes after which the data already written is synced in the background while the upload goes on,
so the sync before the final rename finds little left to do (and dirty pages stay bounded)."""
STALE_SECONDS = 24 * 3600
datasync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have no fdatasync


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

    The pieces the socket delivers are kept as they are (no joining, no copy) and handed, WRITE_BLOCK bytes
    at a time, to one pwritev on a worker thread while the next block is read, so disk and network overlap
    and at most two blocks are held, whatever the body size. Every FLUSH_BEHIND bytes a background
    fdatasync starts writeback of what is already written; the caller still syncs before it counts or
    renames anything (see docs/files-sync.md).
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[int] | None = None
    flushing: asyncio.Future[None] | None = None
    block: list[bytes] = []
    size = queued = unflushed = 0
    try:
        async for data in chunks:
            if limit is not None and queued + size + len(data) > limit:
                raise InvalidParameter("Content-Length", "The body is longer than the Content-Range.")
            block.append(data)
            size += len(data)
            if size >= WRITE_BLOCK or len(block) >= MAX_IOV:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, _pwritev_all, fd, block, offset + queued)
                queued, unflushed, block, size = queued + size, unflushed + size, [], 0
                if unflushed >= FLUSH_BEHIND and (flushing is None or flushing.done()):
                    if flushing is not None:
                        flushing.result()  # a failed background sync fails the upload
                    flushing, unflushed = loop.run_in_executor(None, datasync, fd), 0
        if pending is not None:
            await pending
            pending = None
        if block:
            queued += await asyncio.to_thread(_pwritev_all, fd, block, offset + queued)
        if flushing is not None:
            await flushing
    finally:
        # The caller closes fd next: work in flight on it must finish first, even when we are failing.
        waiting = [future for future in (pending, flushing) if future is not None and not future.done()]
        if waiting:
            await asyncio.wait(waiting)
    return queued


def _pwritev_all(fd: int, pieces: list[bytes], offset: int) -> int:
    """Write `pieces` back to back at `offset` (gathered: the kernel copies them straight from our buffers)."""
    total = sum(len(piece) for piece in pieces)
    if not hasattr(os, "pwritev"):  # Windows: one joined copy
        views = [memoryview(b"".join(pieces))]
    else:
        views = [memoryview(piece) for piece in pieces]
    while views:
        done = os.pwritev(fd, views, offset) if hasattr(os, "pwritev") else os.pwrite(fd, views[0], offset)
        offset += done
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if done:
            views[0] = views[0][done:]
    return total


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
        # What this process has received: a superset of the sidecar, which lists only synced spans.
        self._live: dict[str, Series] = {}
        self._unsynced: dict[str, int] = {}

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
        """Replace the sidecar by rename, without fsync (docs/files-sync.md).

        Every span it lists was fdatasynced before, so whichever version a power loss leaves (or none, when
        the file is torn: it then fails to parse and the series starts over) never counts a byte that is
        not on disk; at worst the client is told to send again chunks it had sent.
        """
        body = {"path": series.path, "total": series.total, "staging": series.staging, "received": series.received}
        sidecar = self._sidecar(series.key)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        temporary = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            temporary.write_text(json.dumps(body), encoding="utf-8")
            os.replace(temporary, sidecar)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def find(self, path: str, total: int) -> Series | None:
        """The series in progress for this file and total, if any."""
        key = series_key(path, total)
        async with self._lock(key):
            return self._live.get(key) or await asyncio.to_thread(self._load, key)

    async def begin(self, path: str, total: int) -> Series:
        """Load or start the series for this file and total and count one writer in it."""
        key = series_key(path, total)
        async with self._lock(key):
            series = await asyncio.to_thread(self._begin, key, path, total)
            self._writers[key] = self._writers.get(key, 0) + 1
            return series

    def _begin(self, key: str, path: str, total: int) -> Series:
        series = self._live.get(key) or self._load(key)
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
        self._live[key] = series
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
        """Count a written chunk; sync and persist progress every FLUSH_BEHIND bytes; complete the series.

        The chunk's bytes are written (not yet synced) when it is counted here, so the answer may list it as
        received. The sidecar is only rewritten right after an fdatasync of the staging file, so it never
        lists a span that is not on disk: a machine crash forgets at most FLUSH_BEHIND bytes of progress,
        which the next answer lists as missing again (docs/files-sync.md).
        """
        key = series.key
        current = self._live.get(key) or self._load(key) or series
        self._live[key] = current
        if span is not None:
            current.received = merge(current.received, span)
            self._unsynced[key] = self._unsynced.get(key, 0) + span[1] - span[0] + 1
        if last_writer and not current.missing:
            replace_target(current.staging, current.path)  # fsync, rename, fsync of the directory
            self._sidecar(key).unlink(missing_ok=True)
            current.done = True
            self._live.pop(key, None)
            self._unsynced.pop(key, None)
        elif self._unsynced.get(key, 0) >= FLUSH_BEHIND:
            synced = Series(key, current.path, current.total, current.staging, list(current.received))
            fd = open_staging(current.staging, os.O_RDONLY)
            try:
                datasync(fd)  # every counted span was fully written before it was counted
            finally:
                os.close(fd)
            self._save(synced)
            self._unsynced[key] = 0
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
                    self._live.pop(sidecar.stem, None)
                    self._unsynced.pop(sidecar.stem, None)
