"""A worker process and the zygote load neither aiohttp, nor ssl, nor lxml (issue 13, P8): <= 20 MiB RSS a worker.

Both are started as the supervisor starts them (`python -m ...`, supervisor/launch.py); the worker also serves a
request first. What a process loaded is read from /proc/<pid>/maps: aiohttp's, ssl's and lxml's C extensions
(and OpenSSL, libxml2) are mapped as soon as the package is imported. Then, in a plain interpreter, everything the
zygote preloads is imported and sys.modules is checked for aiohttp and lxml (ssl stays blocked only in `-m`
worker processes). Workers read applicationHost.config with agent.iisconfig.reader (stdlib expat).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.hosting.embedded.wire import READY_LINE, WORKER_MODULE, ZYGOTE_MODULE
from tests.agent.hosting.support import make_store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("/aiohttp/", "/yarl/", "_ssl.cpython", "libssl", "/lxml/", "libxml2", "libxslt")


def _start(args: list[str], fd: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", *args, "--fd", str(fd), "--parent", str(os.getpid())],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(fd,), env=env)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == READY_LINE
    return proc


def _mapped(pid: int) -> list[str]:
    return [line for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if any(f in line for f in FORBIDDEN)]


def _stop(proc: subprocess.Popen[bytes], *, terminate: bool = True) -> None:
    if terminate:
        proc.terminate()
    proc.wait(10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def test_a_worker_serves_without_aiohttp_ssl_or_lxml(tmp_path: Path) -> None:
    content = tmp_path / "www"
    content.mkdir()
    (content / "index.html").write_text("<h1>lean</h1>")
    store = make_store(tmp_path, 18093, content)
    path = str(tmp_path / "w.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    proc = _start([WORKER_MODULE, "--pool", "DefaultAppPool", "--config", str(store.path)], listener.fileno())
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(path)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-IISFleet-Site: Default Web Site\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"<h1>lean</h1>")
        assert _mapped(proc.pid) == []
    finally:
        _stop(proc)
        listener.close()


def test_the_zygote_preloads_without_aiohttp_ssl_or_lxml() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = _start([ZYGOTE_MODULE], theirs.fileno())
    theirs.close()
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{proc.pid}/maps").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _mapped(proc.pid) == []
    finally:
        ours.close()  # EOF: the zygote exits
        _stop(proc, terminate=False)


def test_the_preloaded_modules_do_not_include_aiohttp_or_lxml() -> None:
    probe = (
        "import sys, agent.hosting.embedded.worker.zygote as z; z.preload(); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('aiohttp', 'yarl', 'lxml')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


# Imported only where used (each costs a worker 0.1-5 MiB, its dependencies included): keep them out of preload.
LAZY = ("hashlib", "html", "argparse", "urllib.request", "http.client", "email", "tempfile", "gzip", "uuid", "difflib")


def test_the_zygote_leaves_rarely_used_stdlib_modules_to_the_workers_that_need_them() -> None:
    probe = (
        "import sys; sys.modules['ssl'] = None; import asyncio; "  # as in a `-m` worker process
        "import agent.hosting.embedded.worker.zygote as z; z.preload(); "
        f"print(sorted(n for n in {LAZY!r} if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
