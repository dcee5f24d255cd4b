"""The idle agent's import set (issue 13, P8): what it loads on first use stays out until then.

A real `iisfleet agent run` on a state directory that has been started once (its certificates made), wrapped
so that SIGUSR1 writes its `sys.modules`. After ordinary API calls it must not have loaded cryptography
(~8 MiB resident), nor the controller, the operator client, redis or rich (~10 MiB, `iisfleet.cli`): then
the certificates route still answers, and only then is cryptography loaded. bench/idle_memory.py measures
what these cost.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_process import create_key, free_port, start_agent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# Loaded on first use only (certificates; monitoring and private-memory recycling); all were loaded at start-up.
LAZY = ("cryptography", "shared.x509util", "psutil")
NEVER = ("controller", "iisfleet.client", "iisfleet.demo", "redis", "rich", "celery", "asyncssh", "winrm")
WRAPPER = """
import json, signal, sys
def dump(*_):
    with open(sys.argv[1] + ".tmp", "w") as out:
        json.dump(sorted(sys.modules), out)
    import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
signal.signal(signal.SIGUSR1, dump)
from iisfleet.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _loaded(proc: subprocess.Popen[bytes], dump: Path) -> set[str]:
    dump.unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while not dump.exists():
        assert time.monotonic() < deadline, "the agent did not write its module list"
        time.sleep(0.05)
    return set(json.loads(dump.read_text()))


def _within(names: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in packages))


def test_an_idle_agent_loads_neither_cryptography_nor_the_controller(tmp_path: Path) -> None:
    state = tmp_path / "state"
    start_agent(state).stop()  # the first start makes the TLS certificate and the certificate stores
    token = create_key(state)
    port, dump = free_port(), tmp_path / "modules.json"
    log = (tmp_path / "agent.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(dump), "agent", "run", "--state-dir", str(state),
                             "--address", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the agent did not listen"
                time.sleep(0.1)
        context = ssl.create_default_context(cafile=str(state / "certs" / "agent.crt"))

        def get(path: str) -> Any:
            request = urllib.request.Request(f"https://127.0.0.1:{port}{path}",
                                             headers={"Access-Token": f"Bearer {token}"})  # fmt: skip
            with urllib.request.urlopen(request, context=context, timeout=20) as response:
                return json.loads(response.read())

        site = get("/api/webserver/websites")["websites"][0]
        get(f"/api/webserver/websites/{site['id']}")
        get("/api/webserver/application-pools")
        get("/api/webserver")
        idle = _loaded(proc, dump)
        assert "agent.api.routes" in idle  # the dump is the built, serving agent's
        assert _within(idle, LAZY) == []
        assert _within(idle, NEVER) == []

        listed = get("/api/certificates")["certificates"]
        assert any(c["alias"] == "IIS Fleet localhost Certificate" for c in listed)
        assert "cryptography.x509" in _loaded(proc, dump)  # loaded on first use, and visible to this check
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
