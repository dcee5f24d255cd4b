"""One w3wp-like worker process as the supervisor sees it: spawn, readiness, request accounting, stop.

The supervisor binds the worker's unix socket itself and hands the listening fd to the child, so requests
can be forwarded before the child finishes booting (they queue in the backlog), and once the supervisor
closes its copy a dead worker's socket refuses at once instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from enum import StrEnum
from pathlib import Path

from agent.hosting.embedded import handoff_wire
from agent.hosting.embedded.supervisor.handoff_channel import HandoffChannel
from agent.hosting.embedded.supervisor.launch import ChildProcess, Launcher
from agent.hosting.embedded.supervisor.upstream import Upstream
from agent.hosting.embedded.wire import READY_LINE

log = logging.getLogger("iisfleet.hosting.worker")


class WorkerState(StrEnum):
    """Life cycle of a worker process."""

    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


class WorkerStartError(Exception):
    """The worker exited or timed out before it was ready."""


class WorkerProcess:
    """A worker of one pool, its unix socket and the supervisor's connection pool to it."""

    def __init__(self, pool: str, number: int, socket_path: Path, config_path: Path, launcher: Launcher) -> None:
        self.pool = pool
        self.launcher = launcher
        self.number = number
        self.socket_path = socket_path
        self.config_path = config_path
        self.state = WorkerState.STARTING
        self.process: ChildProcess | None = None
        self.upstream: Upstream | None = None
        self.channel: HandoffChannel | None = None  # the handoff control socket (handoff_wire.py)
        self.started_at = time.time()
        self.started_mono = time.monotonic()
        self.requests_total = 0
        self.active = 0
        self.stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def pid(self) -> int:
        """The OS process id (0 before spawn)."""
        return self.process.pid if self.process else 0

    async def spawn(self, startup_limit: float) -> None:
        """Start the process and wait until it says it is ready."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control, theirs = handoff_wire.socketpair()
        try:
            listener.bind(str(self.socket_path))
            listener.listen(1024)
            self.process = await self.launcher.launch(self.pool, self.config_path, listener, theirs)
        except BaseException:
            control.close()
            raise
        finally:
            listener.close()
            theirs.close()
        # Listen from the start: a worker may say hello before READY.
        self.channel = HandoffChannel(self, control)
        self.upstream = Upstream(str(self.socket_path))
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), startup_limit)
        except TimeoutError:
            line = b""
        if line != READY_LINE:
            await self.kill()
            raise WorkerStartError(f"worker for pool {self.pool!r} did not start (pid {self.pid})")
        self.state = WorkerState.RUNNING
        log.info("worker pid %d of pool %r is ready", self.pid, self.pool)

    def begin(self) -> None:
        """Count a request handed to this worker."""
        self.active += 1
        self.requests_total += 1
        self.idle.clear()

    def end(self) -> None:
        """Count a finished request."""
        self.active -= 1
        if self.active <= 0:
            self.active = 0
            self.idle.set()

    async def wait_exit(self) -> int:
        """Wait for the process to exit; its return code."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, drain_timeout: float) -> None:
        """Let in-flight requests finish and handed-off connections come back (up to drain_timeout), then stop
        the process by pid."""
        self.stopping = True
        if self.state != WorkerState.STOPPED:
            self.state = WorkerState.DRAINING
        channel = self.channel
        if channel is not None:
            channel.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_timeout):
                await self.idle.wait()
                if channel is not None:
                    await channel.empty.wait()
        await self._close_session()
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                await self.kill()
        await self._close_pipes()
        self.state = WorkerState.STOPPED

    async def kill(self) -> None:
        """SIGKILL the process by pid and reap it."""
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        await self._close_session()
        await self._close_pipes()
        self.state = WorkerState.STOPPED

    async def _close_session(self) -> None:
        if self.channel is not None:
            self.channel.pump()  # the last records and handbacks, then release what is still held
            self.channel.close()
            self.channel = None
        if self.upstream is not None:
            upstream, self.upstream = self.upstream, None
            await upstream.close()

    async def _close_pipes(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
            with contextlib.suppress(ConnectionError, BrokenPipeError):
                await self.process.stdin.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
