"""A real controller, a real Redis and three real agents on 127.0.0.2-4: enroll, gateway, offline, revoke, restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
HEARTBEAT = 0.5  # seconds; offline after three missed ones
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _local_redis() -> str | None:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return "redis://127.0.0.1:6379/0" if sock.recv(16).startswith(b"+PONG") else None
    except OSError:
        return None


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError) as err:
            last = err
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last result: {last!r}")


class Fleet:
    """Processes started by this test, and HTTP helpers for the controller."""

    def __init__(self, tmp: Path, redis_url: str | None) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.state = tmp / "controller"
        self.port = _free_port("127.0.0.1")
        self.url = f"https://127.0.0.1:{self.port}"
        self.prefix = f"iisfleet-e2e:{uuid.uuid4().hex[:8]}:"
        self.env = {
            **os.environ,
            "CONTROLLER_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "CONTROLLER_REDIS_PREFIX": self.prefix,
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""

    def cli(self, *args: str) -> str:
        """Run an `iisfleet` command to completion and return its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "iisfleet", *args], cwd=REPO, env=self.env, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode().strip()

    def token_file(self, name: str, token: str) -> str:
        """A 0600 file holding a join token (tokens stay off command lines)."""
        path = self.tmp / f"{name}.join-token"
        path.touch(mode=0o600)
        path.write_text(token + "\n", encoding="utf-8")
        return str(path)

    def start(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running `iisfleet` command, logging to a file."""
        with open(self.tmp / f"{label}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "iisfleet", *args], cwd=REPO, env=self.env, stdout=log, stderr=log
            )
        self.procs[label] = proc
        return proc

    def redis_args(self) -> list[str]:
        """`--redis-url` when a shared server is used; nothing means the embedded one."""
        return ["--redis-url", self.redis_url] if self.redis_url else []

    def start_controller(self) -> None:
        """Start the controller and wait until it answers."""
        self.start(
            "controller",
            "controller",
            "run",
            "--state-dir",
            str(self.state),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.redis_args(),
        )
        wait_for("the controller", lambda: self.call("GET", "/api/enroll/ca", auth=False)[0] == 200)

    def ssl(self) -> ssl.SSLContext:
        """Trust the fleet CA only; verification stays on."""
        return ssl.create_default_context(cafile=str(self.state / "pki" / "ca.crt"))

    def call(self, method: str, path: str, *, auth: bool = True, body: Any = None) -> tuple[int, Any]:
        """One request to the controller; JSON bodies decoded."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, method=method, data=data)
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.ssl(), timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def agents(self) -> dict[str, dict[str, Any]]:
        """Agents by name."""
        status, body = self.call("GET", "/api/agents")
        assert status == 200, body
        return {agent["name"]: agent for agent in body["agents"]}

    def stop(self, label: str, sig: int = signal.SIGTERM) -> None:
        """Stop one process by pid and wait for it."""
        proc = self.procs.pop(label)
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Agents first, then the controller."""
        for label in sorted(self.procs, key=lambda name: name == "controller"):
            self.stop(label)


def test_fleet_enrolls_proxies_goes_offline_and_revokes(fleet: Fleet) -> None:
    fleet.start_controller()
    fleet.token = fleet.cli(
        "controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(), "--purpose", "e2e",
        "--role", "admin",
    )
    names: dict[str, str] = {}
    for index, address in enumerate(ADDRESSES, start=1):
        join = fleet.cli(
            "controller",
            "join-token",
            "create",
            "--state-dir",
            str(fleet.state),
            *fleet.redis_args(),
            "--labels",
            f"env=e2e,slot=s{index}",
            "--ttl",
            "10m",
        )
        name = f"agent{index}"
        names[address] = name
        fleet.start(
            name,
            "agent",
            "run",
            "--state-dir",
            str(fleet.tmp / name),
            "--address",
            address,
            "--port",
            str(_free_port(address)),
            "--controller",
            fleet.url,
            "--join-token-file",
            fleet.token_file(name, join),
            "--name",
            name,
        )

    def all_online() -> dict[str, dict[str, Any]] | None:
        agents = fleet.agents()
        ok = len(agents) == 3 and all(a["status"] == "online" for a in agents.values())
        return agents if ok else None

    agents = wait_for("three agents online", all_online, timeout=60)
    for index, name in enumerate(sorted(agents), start=1):
        assert agents[name]["labels"] == {"env": "e2e", "slot": f"s{index}"}
        assert agents[name]["facts"]["os"]

    status, targets = fleet.call("GET", "/api/prometheus/targets")
    assert status == 200 and len(targets) == 3
    assert {t["targets"][0].rsplit(":", 1)[0] for t in targets} == set(ADDRESSES)

    for agent in agents.values():
        status, body = fleet.call("GET", f"/api/agents/{agent['id']}/iis/api/webserver/websites")
        assert status == 200, body
        assert "websites" in body
        # The agent serves the CA-signed certificate for its own address: verified with hostname checks on.
        host, port = agent["url"].removeprefix("https://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with fleet.ssl().wrap_socket(raw, server_hostname=host) as tls:
                assert tls.getpeercert()["subject"] == ((("commonName", agent["name"]),),)

    # A stopped agent goes offline within the heartbeat window (three missed beats plus polling slack).
    fleet.stop("agent3", signal.SIGKILL)
    stopped = agents["agent3"]["id"]
    wait_for("agent3 offline", lambda: fleet.agents()["agent3"]["status"] == "offline", timeout=HEARTBEAT * 3 + 5)
    assert fleet.call("GET", f"/api/agents/{stopped}/iis/api/webserver/websites")[0] == 502

    # A revoked agent: the gateway no longer reaches it and its own heartbeats are refused.
    revoked = agents["agent2"]["id"]
    assert fleet.call("DELETE", f"/api/agents/{revoked}")[0] == 204
    assert fleet.call("GET", f"/api/agents/{revoked}/iis/api/webserver/websites")[0] == 404
    wait_for("agent2 to log its refusal", lambda: b"refuses this agent" in (fleet.tmp / "agent2.log").read_bytes())

    # The controller restarts; the remaining agent reconnects on its own (backoff with jitter).
    fleet.stop("controller")
    time.sleep(HEARTBEAT * 4)
    fleet.start_controller()
    wait_for("agent1 online again", lambda: fleet.agents()["agent1"]["status"] == "online", timeout=45)
    status, body = fleet.call("GET", f"/api/agents/{agents['agent1']['id']}/iis/api/webserver/websites")
    assert status == 200, body

    status, audit = fleet.call("GET", "/api/audit?limit=50")
    assert status == 200 and {e["operator"] for e in audit["entries"]} == {fleet.token.split(".")[0]}
    status, metrics = fleet.call("GET", "/metrics")
    assert status == 200 and 'iisfleet_agents{status="online"} 1.0' in metrics
