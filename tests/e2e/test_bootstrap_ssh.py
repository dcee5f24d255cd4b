"""Bootstrap over real SSH: a real sshd on 127.0.0.1, a real controller, an agent installed into a temp dir.

"The remote" is this machine: the controller logs in over SSH with a generated key, checks the pinned host
key, runs the install script and waits for the agent (on its own loopback address) to enroll and come online.
To stay fast the request reuses this test's interpreter (`python`), so no venv or pip install runs here.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.e2e.test_controller_fleet import Fleet, _free_port, wait_for

pytestmark = pytest.mark.e2e

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
AGENT_ADDRESS = "127.0.0.9"


@dataclass
class Sshd:
    """A private sshd: key-only login for one generated client key."""

    port: int
    client_key: str
    host_fingerprint: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start_sshd(tmp: Path) -> Sshd:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(tmp / "host_key"))
    os.chmod(tmp / "host_key", 0o600)
    (tmp / "authorized_keys").write_bytes(client_key.export_public_key())
    port = _free_port("127.0.0.1")
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nAllowUsers {getpass.getuser()}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUsePAM no\n"
        # The temp dir lives under /tmp (mode 1777), which StrictModes would reject for authorized_keys.
        "StrictModes no\nSubsystem sftp internal-sftp\n",
        encoding="utf-8",
    )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = tmp / "sshd.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.skip(f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("sshd did not answer within 10 s")
    return Sshd(port, client_key.export_private_key().decode(), host_key.get_fingerprint("sha256"), proc, log)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if not Path(SSHD).exists():
        pytest.skip("sshd is not installed (apt-get install -y openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("sshd must run as root to accept logins")
    (tmp_path / "sshd").mkdir()
    server = _start_sshd(tmp_path / "sshd")
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGTERM)
            server.proc.wait(timeout=10)


def _stop_pid_file(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _finished(fleet: Fleet, bootstrap_id: str) -> dict[str, Any] | None:
    status, view = fleet.call("GET", f"/api/bootstrap/{bootstrap_id}")
    assert status == 200, view
    return view if view["status"] != "running" else None


def test_bootstrap_over_ssh_enrolls_an_agent(fleet: Fleet, sshd: Sshd, tmp_path: Path) -> None:
    fleet.start_controller()
    fleet.token = fleet.cli("controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                            "--purpose", "e2e", "--role", "admin")
    remote_dir = tmp_path / "remote"
    base = {"transport": "ssh", "host": "127.0.0.1", "port": sshd.port, "username": getpass.getuser(),
            "private_key": sshd.client_key, "address": AGENT_ADDRESS, "agent_port": _free_port(AGENT_ADDRESS),
            "name": "boot1", "labels": {"env": "e2e", "via": "ssh"}, "install_dir": str(remote_dir),
            "python": sys.executable, "service": "nohup", "wait_timeout": 60}

    # An unknown host key is refused before anything is sent or installed.
    status, refused = fleet.call("POST", "/api/bootstrap", body=base)
    assert status == 202, refused
    refused = wait_for("the refusal", lambda: _finished(fleet, refused["id"]), timeout=30)
    assert refused["status"] == "failed" and "unknown" in refused["error"], refused
    assert sshd.host_fingerprint in refused["error"] and not remote_dir.exists()

    try:
        pinned = {**base, "host_key_fingerprint": sshd.host_fingerprint}
        status, accepted = fleet.call("POST", "/api/bootstrap", body=pinned)
        assert status == 202, accepted
        assert accepted["status"] == "running" and "private_key" not in accepted
        view = wait_for("the bootstrap", lambda: _finished(fleet, accepted["id"]), timeout=90)
        assert view["status"] == "succeeded", view
        assert view["host_key_fingerprint"] == sshd.host_fingerprint
        assert view["agent_id"] and "started pid" in view["output"]

        agent = fleet.agents()["boot1"]
        assert agent["id"] == view["agent_id"] and agent["status"] == "online"
        assert agent["labels"] == {"env": "e2e", "via": "ssh"}
        assert agent["url"] == f"https://{AGENT_ADDRESS}:{base['agent_port']}"
        status, sites = fleet.call("GET", f"/api/agents/{agent['id']}/iis/api/webserver/websites")
        assert status == 200 and "websites" in sites, sites
        # The join token was used and is not kept in the record; no credential is either.
        assert "join" not in view["output"].lower() or "***" in view["output"]
    finally:
        _stop_pid_file(remote_dir / "agent.pid")
