"""Write flow control shared by the worker's two client protocols (worker/server.py and worker/direct.py)."""

from __future__ import annotations

import asyncio


class WriteFlow:
    """pause_writing arms a future, resume_writing and a lost connection release it, and drain waits on it.

    Mixed in before asyncio's protocol class; the protocol sets `loop` in its __init__.
    """

    loop: asyncio.AbstractEventLoop
    _drain: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        self.release_drain()

    def release_drain(self) -> None:
        """Let writers on: released, not failed, since nobody may be waiting (an exception would then go
        unretrieved). After a lost connection, later writes are dropped and serving ends at its next read."""
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drain(self) -> None:
        """Wait while the transport's buffer is over its high-water mark."""
        if self._drain is not None and not self._drain.done():
            await self._drain
