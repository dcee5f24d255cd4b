"""Start and stop real agent processes for end-to-end tests (bounded waits, killed by pid)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT = 30.0


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def cli(*args: str) -> list[str]:
    """The `iisfleet` command line run with this interpreter."""
    return [sys.executable, "-m", "iisfleet", *args]


def create_key(state_dir: Path, purpose: str = "e2e") -> str:
    """`iisfleet agent key create`, returning the printed token."""
    result = subprocess.run(cli("agent", "key", "create", "--state-dir", str(state_dir), "--purpose", purpose),
                            check=True, capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


@dataclass
class AgentProcess:
    """A running `iisfleet agent run`."""

    state_dir: Path
    address: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """Base URL of the agent's API."""
        return f"https://{self.address}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this agent's certificate, with verification on."""
        return ssl.create_default_context(cafile=str(self.state_dir / "certs" / "agent.crt"))

    def stop(self, kill: bool = False) -> None:
        """Stop the process by pid (SIGKILL when `kill`)."""
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


def start_agent(state_dir: Path, address: str = "127.0.0.1", port: int | None = None) -> AgentProcess:
    """Start an agent and wait until its TLS port accepts connections."""
    port = port or free_port(address)
    log = open(state_dir.parent / f"agent-{port}.log", "ab")  # noqa: SIM115 - kept open by the child
    proc = subprocess.Popen(
        cli("agent", "run", "--state-dir", str(state_dir), "--address", address, "--port", str(port)),
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    agent = AgentProcess(state_dir, address, port, proc)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}; see {state_dir.parent}/agent-{port}.log")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return agent
        except OSError:
            time.sleep(0.1)
    agent.stop(kill=True)
    raise RuntimeError(f"agent did not listen on {address}:{port} within {READY_TIMEOUT} s")
