"""The registry of copy/move jobs: each runs on a worker thread and is pollable while it runs."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from agent.files import transfers
from agent.files.errors import os_error
from shared.errors import ApiError, ServerError

FAILED_RETENTION = 600.0
"""Seconds a failed job keeps answering with its error before it is forgotten (successes vanish at once)."""


@dataclass(slots=True)
class Operation:
    """One copy or move job."""

    id: str
    kind: str
    source: str
    target: str
    created: float
    total_size: int
    current_size: int = 0
    error: ApiError | None = None
    finished: float | None = None
    future: asyncio.Future[None] | None = field(default=None, repr=False)

    def advance(self, count: int) -> None:
        """Progress callback, called from the worker thread (an int store is atomic under the GIL)."""
        self.current_size += count


class Operations:
    """Jobs by id, and the threads that run them."""

    def __init__(self, max_workers: int = 4) -> None:
        self._jobs: dict[str, Operation] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="files-transfer")

    def start(self, kind: str, source: str, target: str, total_size: int) -> Operation:
        """Queue a job on the worker threads and return its record."""
        self._forget_old()
        op = Operation(secrets.token_urlsafe(32), kind, source, target, time.time(), total_size)
        plan = transfers.TransferPlan(kind, source, target, op.id[:16])
        loop = asyncio.get_running_loop()
        op.future = loop.run_in_executor(self._executor, transfers.run, plan, op.advance)
        op.future.add_done_callback(lambda fut: self._done(op, fut))
        self._jobs[op.id] = op
        return op

    def _done(self, op: Operation, future: asyncio.Future[None]) -> None:
        op.finished = time.time()
        error = None if future.cancelled() else future.exception()
        if error is None:
            self._jobs.pop(op.id, None)
        elif isinstance(error, OSError):
            op.error = os_error(error, op.target)
        else:
            op.error = ServerError(name=op.target, detail=str(error))

    def get(self, op_id: str) -> Operation | None:
        """A running job, or a failed one within its retention time."""
        self._forget_old()
        return self._jobs.get(op_id)

    async def wait(self) -> None:
        """Wait for every running job (used by tests and shutdown)."""
        pending = [op.future for op in self._jobs.values() if op.future is not None and not op.future.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _forget_old(self) -> None:
        cutoff = time.time() - FAILED_RETENTION
        for op_id in [k for k, op in self._jobs.items() if op.finished is not None and op.finished < cutoff]:
            del self._jobs[op_id]

    def close(self) -> None:
        """Stop taking jobs; running copies finish on their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
