"""create_task: the only allowed way to spawn a background task (it keeps a strong reference)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")
# The event loop only keeps weak references to tasks; this set stops a running task from being collected.
_RUNNING: set[asyncio.Task[Any]] = set()


def create_task(coro: Coroutine[Any, Any, _T], *, name: str, keep_ref: bool = True) -> asyncio.Task[_T]:
    """Schedule `coro` as a named task that cannot be garbage-collected while it runs."""
    task = asyncio.get_running_loop().create_task(coro, name=name)  # noqa: TID251 - this is the wrapper
    if keep_ref:
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
    return task
