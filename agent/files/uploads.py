"""Staged uploads for PUT /api/files/content/{id}: whole bodies and chunk series, applied atomically.

Protocol (a superset of upstream's, see docs/compatibility.md):

* Without Content-Range the body streams into a staging file next to the target, which then replaces the
  target in one rename. A failed or cut-off upload leaves the old content in place.
* With `Content-Range: bytes a-b/total` the chunk is written at offset `a` of a staging file that belongs to
  the upload of that file with that total size (key = sha256 of file id text + total). Chunks may come in any
  order, overlap, repeat, or run concurrently. A chunk counts as received once written; every FLUSH_BEHIND
  bytes the staging file is fdatasynced in the background and only then are the received spans saved in a
  sidecar JSON file under `<state dir>/uploads/` (on completion it is fsynced before the rename), so a crash
  or restart never counts a chunk that was not stored (at worst recent chunks are listed as missing again)
  and the series can be resumed.
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
from shared.asyncio_utils import create_task
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
MAX_OPEN = 64
"""Staging files of chunk series kept open between chunks; series beyond this reopen theirs on their next chunk."""
CHUNK_WRITE_BLOCK = 2 * 1024 * 1024
"""Block size for chunk bodies: smaller than WRITE_BLOCK, so the disk writes of one chunk overlap its network
reads (an 8 MiB chunk in one 8 MiB block would be written only after all of it arrived)."""
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


async def write_stream(
    fd: int, offset: int, chunks: AsyncIterator[bytes], limit: int | None, block_size: int | None = None
) -> int:
    """Write a request body at `offset`; 400 `Content-Length` past `limit` bytes.

    The pieces the socket delivers are kept as they are (no joining, no copy) and handed, `block_size`
    (default WRITE_BLOCK) bytes
    at a time, to one pwritev on a worker thread while the next block is read, so disk and network overlap
    and at most two blocks are held, whatever the body size. Every FLUSH_BEHIND bytes a background
    fdatasync starts writeback of what is already written; the caller still syncs before it counts or
    renames anything (see docs/files-sync.md).
    """
    loop = asyncio.get_running_loop()
    block_size = min(block_size or WRITE_BLOCK, WRITE_BLOCK)
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
            if size >= block_size or len(block) >= MAX_IOV:
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
    """Chunk series of this agent, persisted under `<state dir>/uploads`.

    Per-chunk work stays on the event loop unless it touches the disk's slow paths (docs/files-sync.md): the
    staging file of a series is opened once and kept open while the series is in progress (each chunk
    writes through its own `dup` of it, so closing the shared one never pulls a descriptor from under a
    writer), counting a chunk is a merge in memory, and the every-FLUSH_BEHIND sync and sidecar save run in
    the background instead of delaying that chunk's answer.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "uploads"
        self._locks: dict[str, asyncio.Lock] = {}
        self._writers: dict[str, int] = {}
        # What this process has received: a superset of the sidecar, which lists only synced spans.
        self._live: dict[str, Series] = {}
        self._unsynced: dict[str, int] = {}
        self._fds: dict[str, int] = {}
        """The open staging file of each series in progress (at most MAX_OPEN; the rest reopen on demand)."""
        self._syncing: dict[str, asyncio.Task[None]] = {}
        """The background sync-then-save of each series, kept until the next chunk checks its outcome."""

    def close(self) -> None:
        """Close the staging files kept open between chunks (shutdown); a later chunk reopens its file."""
        for key in list(self._fds):
            self._close(key)

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

    async def begin(self, path: str, total: int) -> tuple[Series, int]:
        """Load or start the series for this file and total, count one writer in it, and give that writer a
        descriptor of the staging file (its own: the caller closes it)."""
        key = series_key(path, total)
        async with self._lock(key):
            known, shared = self._live.get(key), self._fds.get(key)
            # The fast path, no thread hop: the series is in memory and its open staging file is still the
            # single-link file at the staging name that was checked when it was opened.
            if known is not None and shared is not None and _still_at(shared, known.staging):
                series, fd = known, shared
            else:
                self._close(key)
                series, fd, swept = await asyncio.to_thread(self._begin, key, path, total, known)
                for gone in swept:
                    self._forget(gone)
                self._live[key], self._fds[key] = series, fd
                self._close_idle()
            mine = os.dup(fd)
            self._writers[key] = self._writers.get(key, 0) + 1
            return series, mine

    def _begin(self, key: str, path: str, total: int, known: Series | None) -> tuple[Series, int, list[str]]:
        """(series, its open staging file, series swept) on a worker thread; the caller keeps the bookkeeping."""
        series = known or self._load(key)
        if series is not None and os.path.exists(series.staging):
            return series, open_staging(series.staging), []  # refuses a link planted at the name meanwhile
        swept = self.sweep()
        staging = os.path.join(os.path.dirname(path), f"{STAGING_PREFIX}upload-{key}.part")
        fd = create_staging(staging)
        try:
            os.ftruncate(fd, total)
            series = Series(key, path, total, staging)
            self._save(series)
        except BaseException:
            os.close(fd)
            raise
        return series, fd, [*swept, key]  # a new series counts nothing unsynced yet

    def _forget(self, key: str) -> None:
        self._live.pop(key, None)
        self._unsynced.pop(key, None)
        self._close(key)

    def _close(self, key: str) -> None:
        """Close the shared descriptor of a series (writers hold their own dups, so this never cuts one off)."""
        fd = self._fds.pop(key, None)
        if fd is not None:
            os.close(fd)

    def _close_idle(self) -> None:
        """Keep at most MAX_OPEN staging files open: close those of series nobody is writing, oldest first."""
        for key in [k for k in self._fds if not self._writers.get(k)][: max(0, len(self._fds) - MAX_OPEN)]:
            self._close(key)

    async def end(self, series: Series, span: Span | None) -> Series:
        """Release a writer, counting its chunk (None when it failed).

        The series completes only when nothing is missing and no other writer of it is still running, so
        no late writer can hold a descriptor on the staging file once it has become the target.
        """
        key = series.key
        # Released before the first await, so even a cancelled handler cannot leave the series waiting forever.
        self._writers[key] = self._writers.get(key, 1) - 1
        async with self._lock(key):
            self._check_sync(key)
            current = self._live.get(key) or await asyncio.to_thread(self._load, key) or series
            self._live[key] = current
            # A chunk written into a series that has since started over (its staging file was replaced, or a
            # failed sync dropped its progress) went to a file this series no longer trusts: not counted.
            if span is not None and current is series:
                current.received = merge(current.received, span)
                self._unsynced[key] = self._unsynced.get(key, 0) + span[1] - span[0] + 1
            if self._writers.get(key, 0) <= 0 and not current.missing:
                await self._complete(current)
            elif self._unsynced.get(key, 0) >= FLUSH_BEHIND and key not in self._syncing and key in self._fds:
                self._start_sync(current)
            return current

    async def synced(self) -> None:
        """Wait for the background syncs in flight (tests, and callers that want the sidecars current)."""
        if self._syncing:
            await asyncio.wait(list(self._syncing.values()))

    def _check_sync(self, key: str) -> None:
        """Raise the failure of a finished background sync, after forgetting what it should have made durable.

        What this process counted since the last good sidecar may not be on disk: the sidecar's version is
        reloaded, so the next answer lists those chunks as missing and the client sends them again.
        """
        task = self._syncing.get(key)
        if task is None or not task.done():
            return
        del self._syncing[key]
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._live.pop(key, None)
            self._unsynced.pop(key, None)
            raise error

    def _start_sync(self, current: Series) -> None:
        """fdatasync the staging file, then save the spans counted before the sync began, in the background.

        Every counted span was completely written before it was counted, so the snapshot taken now is on
        disk once the sync returns: the sidecar never runs ahead of the disk (docs/files-sync.md).
        """
        key = current.key
        synced = Series(key, current.path, current.total, current.staging, list(current.received))
        fd = os.dup(self._fds[key])  # its own descriptor: the shared one may be closed meanwhile
        self._unsynced[key] = 0

        def sync_and_save() -> None:
            try:
                datasync(fd)
            finally:
                os.close(fd)
            if self._live.get(key) is current:  # not swept, completed or started over meanwhile
                self._save(synced)

        task = create_task(asyncio.to_thread(sync_and_save), name=f"sync upload {key}")
        task.add_done_callback(_retrieved)
        self._syncing[key] = task

    async def _complete(self, current: Series) -> None:
        """Sync, rename over the target and forget the series (a background sync finishes first)."""
        key = current.key
        running = self._syncing.get(key)
        if running is not None:
            await asyncio.wait([running])
            self._check_sync(key)
        self._close(key)
        await asyncio.to_thread(self._replace, current)
        current.done = True
        self._forget(key)
        self._writers.pop(key, None)
        self._locks.pop(key, None)

    def _replace(self, current: Series) -> None:
        replace_target(current.staging, current.path)  # fsync, rename, fsync of the directory
        self._sidecar(current.key).unlink(missing_ok=True)

    def sweep(self, max_age: float = STALE_SECONDS) -> list[str]:
        """Remove series nobody has touched for `max_age` seconds, with their staging files; their keys.

        Files only (it runs on a worker thread): the caller forgets the returned keys on the event loop.
        """
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            return []
        cutoff = time.time() - max_age
        swept = []
        for sidecar in self.dir.glob("*.json"):
            with contextlib.suppress(OSError):
                if sidecar.stat().st_mtime < cutoff:
                    series = self._load(sidecar.stem)
                    if series is not None:
                        Path(series.staging).unlink(missing_ok=True)
                    sidecar.unlink(missing_ok=True)
                    swept.append(sidecar.stem)
        return swept


def _still_at(fd: int, path: str) -> bool:
    """Whether the open file `fd` is still the only link, and the one at `path` (fstat and lstat: no data read)."""
    opened = os.fstat(fd)
    try:
        named = os.lstat(path)
    except OSError:
        return False
    return opened.st_nlink == 1 and (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def _retrieved(task: asyncio.Task[None]) -> None:
    """Mark a background sync's failure as seen: the series' next chunk raises it (Uploads._check_sync)."""
    if not task.cancelled():
        task.exception()
