"""How the supervisor starts a worker process: forked from the zygote (worker/zygote.py), else exec'd afresh.

A forked worker shares the zygote's imported pages and starts without importing anything; it is the zygote's
child, so the zygote reports its exit code. Set IISFLEET_ZYGOTE=0 in the agent's environment to exec every
worker as `python -m agent.hosting.embedded.worker` instead; that is also the fallback when the zygote
cannot start.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from agent.hosting.embedded.wire import READY_LINE, WORKER_MODULE, ZYGOTE_MODULE

log = logging.getLogger("iisfleet.hosting.worker")
PROJECT_ROOT = Path(__file__).resolve().parents[4]
SWITCH = "IISFLEET_ZYGOTE"
ZYGOTE_START_SECONDS = 60.0
FORK_SECONDS = 10.0
MAX_MESSAGE = 65536
# After the zygote failed to start, exec workers for this long before trying it again.
RETRY_SECONDS = 60.0


class ChildProcess(Protocol):
    """What WorkerProcess needs of a process: asyncio.subprocess.Process has it, and so has ForkedChild."""

    @property
    def pid(self) -> int: ...  # noqa: D102

    @property
    def returncode(self) -> int | None: ...  # noqa: D102

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None

    async def wait(self) -> int: ...  # noqa: D102

    def kill(self) -> None: ...  # noqa: D102

    def send_signal(self, sig: int) -> None: ...  # noqa: D102


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


async def exec_worker(pool: str, config: Path, listener: socket.socket, control: socket.socket) -> ChildProcess:
    """A fresh interpreter running the worker module (imports everything itself). Its own process group, in the
    agent's session and so in its scheduler autogroup (worker/zygote.py's `_child` says why)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", WORKER_MODULE, "--pool", pool, "--config", str(config),
        "--fd", str(listener.fileno()), "--control", str(control.fileno()), "--parent", str(os.getpid()),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        pass_fds=(listener.fileno(), control.fileno()), env=_env(), process_group=0,
    )  # fmt: skip


class ForkedChild:
    """A worker forked by the zygote: signalled by pid, its exit code reported by the zygote."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 exited: asyncio.Future[int]) -> None:  # fmt: skip
        self._pid = pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self._exited = exited

    @property
    def pid(self) -> int:
        """The worker's pid."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the zygote reported it."""
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        """Wait for the exit code."""
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        """Signal the worker (not after its exit was reported: the pid may be reused)."""
        if self.returncode is None:
            os.kill(self._pid, sig)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The supervisor's end of the fork server: one SOCK_SEQPACKET socket, requests matched by id."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}

    @property
    def alive(self) -> bool:
        """Started and still connected."""
        return self.sock is not None

    async def start(self) -> None:
        """Run the zygote and wait until it has imported everything (OSError / TimeoutError if it cannot)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", ZYGOTE_MODULE, "--fd", str(theirs.fileno()), "--parent", str(os.getpid()),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),), env=_env(), process_group=0,
            )  # fmt: skip
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), ZYGOTE_START_SECONDS)
        except TimeoutError:
            line = b""
        if line != READY_LINE:
            ours.close()
            await self._reap()
            raise OSError("the worker zygote did not start")
        ours.setblocking(False)
        self.sock = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)
        log.info("worker zygote pid %d is ready", self.process.pid)

    async def fork(self, pool: str, config: Path, listener: socket.socket, control: socket.socket) -> ForkedChild:
        """A new worker of `pool` serving `listener` (and its handoff `control` socket); OSError when the zygote
        is gone."""
        if self.sock is None:
            raise OSError("the worker zygote is not running")
        loop = asyncio.get_running_loop()
        request = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._replies[request] = reply
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
        try:
            message = json.dumps({"id": request, "pool": pool, "config": str(config)}).encode()
            fds = array.array("i", [listener.fileno(), stdin_r, stdout_w, control.fileno()])
            self.sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError:
            self._replies.pop(request, None)
            for fd in (stdin_w, stdout_r):
                os.close(fd)
            raise
        finally:
            os.close(stdin_r)
            os.close(stdout_w)
        try:
            answer = await asyncio.wait_for(reply, FORK_SECONDS)
        except (TimeoutError, OSError):
            for fd in (stdin_w, stdout_r):
                os.close(fd)
            raise
        if "pid" not in answer:
            for fd in (stdin_w, stdout_r):
                os.close(fd)
            raise OSError(f"the worker zygote refused: {answer.get('error')}")
        pid = int(answer["pid"])
        stdout = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(stdout_r, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                            os.fdopen(stdin_w, "wb", 0))  # fmt: skip
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return ForkedChild(pid, stdin, stdout, self._exits[pid])

    def _readable(self) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        while self.sock is not None:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            message = json.loads(data)
            if "exit" in message:
                exited = self._exits.setdefault(int(message["exit"]), loop.create_future())
                if not exited.done():
                    exited.set_result(int(message["code"]))
                continue
            if "pid" in message:  # the exit future exists before anyone can wait for it
                self._exits.setdefault(int(message["pid"]), loop.create_future())
            reply = self._replies.pop(int(message.get("id") or 0), None)
            if reply is not None and not reply.done():
                reply.set_result(message)

    def _lost(self, *, expected: bool = False) -> None:
        """The zygote went away: its children died with it (PR_SET_PDEATHSIG)."""
        if self.sock is None:
            return
        if not expected:
            log.warning("the worker zygote exited; its workers died with it")
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(OSError("the worker zygote exited"))
        self._replies.clear()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(-signal.SIGKILL)

    async def close(self) -> None:
        """Stop the zygote (after the workers, whose exit codes it reports)."""
        self._lost(expected=True)
        await self._reap()

    async def _reap(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


class Launcher:
    """Starts the workers of one supervisor: through its zygote (started on first use), else by exec."""

    def __init__(self, *, use_zygote: bool | None = None) -> None:
        self.use_zygote = os.environ.get(SWITCH, "1") != "0" if use_zygote is None else use_zygote
        self.zygote: Zygote | None = None
        self._failed_at = -RETRY_SECONDS
        self._lock = asyncio.Lock()

    async def launch(self, pool: str, config: Path, listener: socket.socket, control: socket.socket) -> ChildProcess:
        """A started worker process for `pool` serving `listener`, with its handoff `control` socket (the worker's
        end of handoff_wire.socketpair); not yet READY."""
        if self.use_zygote:
            async with self._lock:
                retry = time.monotonic() - self._failed_at >= RETRY_SECONDS
                if (self.zygote is None or not self.zygote.alive) and retry:
                    await self._start_zygote()
            if self.zygote is not None and self.zygote.alive:
                try:
                    return await self.zygote.fork(pool, config, listener, control)
                except (OSError, TimeoutError) as err:
                    log.warning("forking a worker from the zygote failed (%s); starting it afresh", err)
        return await exec_worker(pool, config, listener, control)

    async def _start_zygote(self) -> None:
        if self.zygote is not None:
            await self.zygote.close()
        self.zygote = Zygote()
        try:
            await self.zygote.start()
        except (OSError, TimeoutError) as err:
            log.warning("the worker zygote did not start (%s); workers start afresh", err)
            self.zygote = None
            self._failed_at = time.monotonic()

    async def close(self) -> None:
        """Stop the zygote."""
        if self.zygote is not None:
            zygote, self.zygote = self.zygote, None
            await zygote.close()
