"""Hand freed heap pages back to the kernel: glibc's malloc_trim, after start-up and then now and then.

CPython frees small objects into its own arenas and large ones (and C libraries' buffers: TLS, lxml,
pydantic-core) into glibc's heap. glibc returns only the top of the heap by itself; free pages in the middle
stay resident until `malloc_trim(0)` releases them (MADV_DONTNEED). For the agent that is ~1 MiB after
start-up and after bursts of API calls (bench/idle_memory.py). A no-op where there is no glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import sys
from collections.abc import Callable

# Seconds. A trim of an idle agent's heap (~11 MiB) takes ~0.02 ms; a fragmented 200 MiB heap ~10 ms, so the
# periodic ones run in a thread, off the event loop.
TRIM_INTERVAL = 15.0


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # glibc; musl has no malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory(collect: bool = False) -> None:
    """Return free heap pages to the kernel (after a full garbage collection when `collect`)."""
    if collect:
        gc.collect()
    if _TRIM is not None:
        _TRIM(0)


async def trim_periodically(interval: float = TRIM_INTERVAL) -> None:
    """Trim now (after a collection) and then every `interval` seconds, until cancelled."""
    release_free_memory(collect=True)
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(release_free_memory)
