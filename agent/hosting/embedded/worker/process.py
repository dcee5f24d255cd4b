"""`python -m agent.hosting.embedded.worker`: a w3wp-like worker process serving one application pool.

It serves the unix socket its supervisor bound (fd inherited) with its own small HTTP/1.1 server
(worker/server.py), loads applicationHost.config itself, answers through WorkerApp, and dies with its parent
(PR_SET_PDEATHSIG plus EOF on stdin). With a `--control` socket it also serves the client connections the
supervisor hands it (worker/control.py), once it has said hello. Nothing here imports aiohttp or ssl (see
worker/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.hosting.embedded.wire import READY_LINE, WORKER_MODULE
from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.control import Control
from agent.hosting.embedded.worker.control import wanted as control_wanted
from agent.hosting.embedded.worker.direct_cache import DirectCache
from agent.hosting.embedded.worker.server import Server
from shared.asyncio_utils import create_task

PR_SET_PDEATHSIG = 1
SHUTDOWN_SECONDS = 5.0  # requests in progress at SIGTERM get this long to finish


def die_with_parent(parent: int) -> None:
    """Get SIGKILL when the parent dies; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


async def _watch_stdin(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while await reader.read(1024):
            pass
    finally:
        transport.close()
        stop.set()


async def serve(args: WorkerOptions) -> None:
    """Run until SIGTERM or until the supervisor goes away."""
    from agent.iisconfig.reader import ConfigReader

    store = ConfigReader(Path(args.config))  # read-only and without lxml: the agent alone writes the file
    store.load()
    worker = WorkerApp(store)
    sock = socket.socket(fileno=args.fd)
    server = Server(worker.handle)
    await server.start(sock)
    control = None
    if args.control >= 0:
        control = Control(socket.socket(fileno=args.control), worker, DirectCache.from_environment(os.environ))
    if control is not None:
        control.start(hello=control_wanted(os.environ))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watcher = create_task(_watch_stdin(stop), name="watch supervisor")
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()
    await stop.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    if control is not None:
        await asyncio.gather(server.close(SHUTDOWN_SECONDS), control.close(SHUTDOWN_SECONDS))
    else:
        await server.close(SHUTDOWN_SECONDS)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What the supervisor tells a worker: on its command line, or through the zygote's fork request."""

    pool: str
    config: str
    fd: int  # the listening socket the supervisor bound
    parent: int  # the supervisor's pid: the worker dies with it
    # The handoff control socket (handoff_wire.py, worker/control.py): handed-off client connections arrive there.
    control: int = -1


def run(options: WorkerOptions) -> int:
    """Serve as a worker until SIGTERM or the supervisor's end."""
    die_with_parent(options.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fmt = f"%(asctime)s w3wp[{os.getpid()}] %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.WARNING, format=fmt)
    # asyncio's own loop, not uvloop: uvloop has no loop.sendfile (worker/server.py sends large files with it).
    asyncio.run(serve(options))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m ...worker`: parse the command line and run (the zygote calls run() and never loads argparse)."""
    import argparse

    parser = argparse.ArgumentParser(prog=WORKER_MODULE)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--control", type=int, default=-1)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    return run(WorkerOptions(args.pool, args.config, args.fd, args.parent, args.control))
