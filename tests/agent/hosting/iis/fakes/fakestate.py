"""Shared by the fake tools: the recorded state JSON (path in $IISFLEET_FAKE_STATE), locked while used."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent.parent / "recorded"


@contextlib.contextmanager
def state(tool: str) -> Iterator[dict[str, Any]]:
    """The state, with this call's argv appended to `calls`; written back when the block ends."""
    path = Path(os.environ["IISFLEET_FAKE_STATE"])
    with open(path.with_suffix(".lock"), "a+b") as lock:
        # The host runs several tools at once (asyncio.gather); serialise their read-modify-write.
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("calls", []).append([tool, *sys.argv[1:]])
        try:
            yield data
        finally:
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if tool in data.get("hang", []):
        time.sleep(60)  # a hung tool: the host must kill it at its deadline


def recorded(name: str) -> str:
    """A recorded output file's text."""
    return (RECORDED / name).read_text(encoding="utf-8")


def recorded_bytes(name: str) -> bytes:
    """A recorded output file's bytes, as the tool wrote them (code page and CRLF kept)."""
    return (RECORDED / name).read_bytes()


def emit(data: bytes) -> None:
    """Write bytes to stdout untouched, as a Windows tool writes its code-page text to a pipe."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
