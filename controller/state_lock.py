"""An exclusive lock between processes sharing a controller state directory (one host, or a shared volume).

Several controllers and workers may share one state directory so they share the CA, the controller's
certificate and the secrets key. Creating or renewing that material is check-then-write; under this lock
two processes starting at once cannot create two different CAs or keys. `flock` works on local file
systems and on NFSv4 (Linux maps it to a POSIX lock there); where `fcntl` does not exist (Windows) it is a
no-op and the first process must be started alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".init.lock"


@contextmanager
def state_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's exclusive lock for the duration of the block."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock
