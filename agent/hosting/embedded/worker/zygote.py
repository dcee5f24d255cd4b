"""`python -m agent.hosting.embedded.worker.zygote`: the fork server that worker processes start from.

It imports everything a worker needs once (its HTTP server, the configuration system, every pipeline module;
neither aiohttp nor ssl, see worker/__init__.py), freezes those objects out of the garbage collector's reach
(so children do not copy the pages by touching them), and then forks a worker per request of the supervisor.
Workers therefore share the interpreter's and the libraries' pages with the zygote and with each other, and
start in milliseconds.

The protocol on the SOCK_SEQPACKET socket the supervisor passes (`--fd`), one JSON message per packet
(the supervisor's side is supervisor/launch.py):
- supervisor → zygote: {"id": n, "pool": P, "config": C} with four descriptors attached: the worker's
  listening socket, the read end of its stdin pipe, the write end of its stdout pipe and its handoff control
  socket (handoff_wire.py);
- zygote → supervisor: {"id": n, "pid": pid} once forked, and {"exit": pid, "code": c} when a child
  exits (c as asyncio reports it: the exit status, or minus the signal number).
The zygote dies with the supervisor (PR_SET_PDEATHSIG, and EOF on the socket); its children die with it.
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys

from agent.hosting.embedded.wire import READY_LINE, ZYGOTE_MODULE
from agent.hosting.embedded.worker import process
from agent.hosting.embedded.worker.registry import MODULES, resolve
from shared.memory import release_free_memory

MAX_MESSAGE = 65536
FDS_PER_REQUEST = 4


def preload() -> None:
    """Import what a worker would import while serving, so that children share it."""
    import agent.iisconfig.reader  # noqa: F401 - loaded by process.serve

    for name in MODULES:
        resolve(name)
    gc.collect()
    gc.freeze()
    release_free_memory()  # what importing freed stays out of the zygote and of every worker forked from it


def _receive(ctl: socket.socket) -> tuple[dict[str, object], list[int]] | None:
    fds = array.array("i")
    data, ancdata, _flags, _addr = ctl.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(FDS_PER_REQUEST * fds.itemsize))
    if not data:
        return None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    message = json.loads(data)
    assert isinstance(message, dict)
    return message, list(fds)


def _child(ctl: socket.socket, wakeup: tuple[int, int], message: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the worker of one pool; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctl.close()
        for fd in wakeup:
            os.close(fd)
        listener, stdin, stdout, control = fds
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.close(stdin)
        os.close(stdout)
        # Its own process group (a terminal's Ctrl-C is for the agent, which stops its workers), in the agent's
        # session: a session of its own would put it in its own scheduler autogroup, and workers in separate
        # autogroups starve one another in turns (p99 75-180 ms against 7 ms, bench/RESULTS.md).
        os.setpgid(0, 0)
        options = process.WorkerOptions(str(message["pool"]), str(message["config"]), listener, os.getppid(), control)
        code = process.run(options)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - report anything, then leave without running the zygote's cleanup
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)


def _reap(ctl: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ctl.sendall(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def serve(ctl: socket.socket) -> None:
    """Fork a worker for every request until the supervisor closes the socket."""
    wakeup = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd gets written
    signal.set_wakeup_fd(wakeup[1])
    while True:
        readable, _, _ = select.select([ctl.fileno(), wakeup[0]], [], [])
        if wakeup[0] in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wakeup[0], 512)
            _reap(ctl)
        if ctl.fileno() not in readable:
            continue
        received = _receive(ctl)
        if received is None:
            return
        message, fds = received
        if len(fds) != FDS_PER_REQUEST:
            for fd in fds:
                os.close(fd)
            refusal = {"id": message.get("id"), "error": f"expected {FDS_PER_REQUEST} descriptors"}
            ctl.sendall(json.dumps(refusal).encode())
            continue
        pid = os.fork()
        if pid == 0:
            _child(ctl, wakeup, message, fds)
        for fd in fds:
            os.close(fd)
        ctl.sendall(json.dumps({"id": message.get("id"), "pid": pid}).encode())


def _options(argv: list[str]) -> tuple[int, int]:
    """`--fd N --parent PID`, the supervisor's command line.

    Read by hand: argparse (~0.45 MiB with gettext) would stay in the zygote and so in every worker's memory.
    """
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    try:
        if len(argv) % 2 or set(options) != {"--fd", "--parent"}:
            raise ValueError(argv)
        return int(options["--fd"]), int(options["--parent"])
    except ValueError:
        raise SystemExit(f"usage: python -m {ZYGOTE_MODULE} --fd N --parent PID (got {' '.join(argv)!r})") from None


def main(argv: list[str] | None = None) -> int:
    """Preload, say READY on stdout, serve the supervisor's requests."""
    fd, parent = _options(sys.argv[1:] if argv is None else argv)
    process.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctl = socket.socket(fileno=fd)
    ctl.setblocking(True)
    preload()
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()
    with contextlib.suppress(ConnectionError):
        serve(ctl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
