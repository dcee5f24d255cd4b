"""One chunk of a chunked upload written straight through the Uploads store, as the files API does."""

from __future__ import annotations

import os
from pathlib import Path

from agent.files.uploads import Series, Uploads


async def write_chunk(store: Uploads, path: Path, total: int, first: int, data: bytes) -> Series:
    """Begin a chunk at `first`, write `data` there and count it."""
    series, fd = await store.begin(str(path), total)
    try:
        os.pwrite(fd, data, first)
    finally:
        os.close(fd)
    return await store.end(series, (first, first + len(data) - 1))
