"""What a version build syncs, and when (agent/files/versions.py; docs/architecture.md "Version builds").

A version folder is reported (201) only once it would survive a power cut; a crash before that leaves
at most the hidden staging folder, which the next plan of that name removes. The order:

1. Each received file is written and closed; its fsync is handed at once to a small thread pool, so the
   disk flushes it while the next files arrive (no fsync per file on the receiving thread).
2. When the stream ends, `finish` waits for those fsyncs, then fsyncs every folder of the staging tree once
   (their entries: received files and the hard links to the base version's files, whose data was made
   durable when the base was built).
3. The version's record is written atomically (fsync of the file and of its folder), then the staging
   folder is renamed into place and the versions folder is fsynced, so the rename is durable before the
   answer.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from shared.fsutil import fsync_dir

SYNC_THREADS = 8
"""Concurrent fsyncs: the file system batches them into fewer journal commits than one at a time."""


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BuildSync:
    """The fsyncs of one build: files as they are written, then every folder once."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="build-sync")
        self._pending: list[Future[None]] = []

    def file_written(self, path: str) -> None:
        """Start flushing a closed file in the background."""
        self._pending.append(self._pool.submit(_fsync_file, path))

    def finish(self, root: str) -> None:
        """Wait for the file fsyncs (raising the first error), then fsync each folder under `root`."""
        try:
            for future in self._pending:
                future.result()
            folders = [folder for folder, _dirs, _files in os.walk(root)]
            for future in [self._pool.submit(fsync_dir, Path(folder)) for folder in folders]:
                future.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the pool (a failed build: pending fsyncs finish, their results are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def sync_rename(source: str, target: str) -> None:
    """Rename a finished staging folder into place and make the rename durable (fsync of the parent)."""
    os.rename(source, target)
    fsync_dir(Path(os.path.dirname(target)))
