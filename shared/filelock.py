"""Exclusive cross-process file locks: flock on POSIX, msvcrt.locking on Windows."""

from __future__ import annotations

import sys
from typing import IO

if sys.platform == "win32":
    import msvcrt

    def lock(handle: IO[bytes]) -> None:
        """Block until this process holds the lock on `handle`'s file."""
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)

    def unlock(handle: IO[bytes]) -> None:
        """Release the lock taken by lock()."""
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def lock(handle: IO[bytes]) -> None:
        """Block until this process holds the lock on `handle`'s file."""
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def unlock(handle: IO[bytes]) -> None:
        """Release the lock taken by lock()."""
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
