"""What a version build syncs, and when (agent/files/versions.py; docs/architecture.md "Incremental deploys").

A version folder is reported (201) only once it would survive a power cut; a crash before that leaves
at most the hidden staging folder, which the next plan of that name removes. The order:

1. Every received file is written, handed to the disk with `sync_file_range(SYNC_FILE_RANGE_WRITE)` (start
   writing it back now, without waiting and without a journal commit) and closed, so the disk works while
   the stream still arrives.
2. When the stream ends, `finish` fsyncs all of them at once from a small thread pool, then every folder of
   the staging tree (their entries: received files and the hard links to the base version's files, whose
   data was made durable when the base was built). Syncing in one batch lets the file system write the
   data and commit its journal a few times for the whole version; an fsync right after each file forced a
   journal commit (and a disk cache flush) per file or two, which measured 2x the agent CPU of the build.
3. The version's record is written atomically (fsync of the file and of its folder), then the staging
   folder is renamed into place and the versions folder is fsynced, so the rename is durable before the
   answer.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.fsutil import fsync_dir

SYNC_THREADS = 8
"""Concurrent fsyncs: the file system batches them into fewer journal commits than one at a time."""


SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range on Linux (Python's os module lacks it), else None: the batch fsync does it all."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_START_WRITEBACK = _sync_file_range()


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BuildSync:
    """The fsyncs of one build: the files it wrote, then every folder, in one batch at the end."""

    def __init__(self) -> None:
        self._written: list[str] = []

    @staticmethod
    def start_writeback(fd: int) -> None:
        """Ask the kernel to start writing this file's data to disk now (a hint; errors surface at fsync)."""
        if _START_WRITEBACK is not None:
            _START_WRITEBACK(fd, 0, 0, SYNC_FILE_RANGE_WRITE)

    def file_written(self, path: str) -> None:
        """Note a closed file for the batch."""
        self._written.append(path)

    def finish(self, root: str) -> None:
        """fsync every written file (raising the first error), then each folder under `root`."""
        with ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="build-sync") as pool:
            for _done in pool.map(_fsync_file, self._written):
                pass
            folders = [Path(folder) for folder, _dirs, _files in os.walk(root)]
            for _done in pool.map(fsync_dir, folders):
                pass

    def close(self) -> None:
        """Forget the batch (a failed build syncs nothing)."""
        self._written.clear()


def sync_rename(source: str, target: str) -> None:
    """Rename a finished staging folder into place and make the rename durable (fsync of the parent)."""
    os.rename(source, target)
    fsync_dir(Path(os.path.dirname(target)))
