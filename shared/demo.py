"""`iisfleet demo`: a fleet on this machine, started by one command and stopped by Ctrl-C.

Each agent gets its own loopback address (127.0.0.2, 127.0.0.3, ...) and state directory, so they behave
like separate hosts. Everything started here is stopped by pid on exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from agent.cli import DEFAULT_PORT

READY_TIMEOUT = 60.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `demo`."""
    demo = sub.add_parser("demo", help="run a whole fleet on this machine until Ctrl-C")
    demo.add_argument("--agents", type=int, default=3)
    demo.add_argument("--state-dir", type=Path, default=None, help="default: a new temporary directory")
    demo.add_argument("--json", action="store_true", help="print the fleet as JSON")
    demo.set_defaults(func=run_demo)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", *args]


def _wait_ready(url: str, cafile: Path, token: str, proc: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent at {url} exited with status {proc.returncode}")
        try:
            request = urllib.request.Request(f"{url}/api", headers={"Access-Token": f"Bearer {token}"})
            with urllib.request.urlopen(request, context=context, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"agent at {url} did not answer within {READY_TIMEOUT:.0f} s")


def run_demo(args: argparse.Namespace) -> int:
    """Start the agents, print how to reach them, and wait for Ctrl-C."""
    root = args.state_dir or Path(tempfile.mkdtemp(prefix="iisfleet-demo-"))
    procs: list[subprocess.Popen[bytes]] = []
    fleet = []
    try:
        for n in range(args.agents):
            address = f"127.0.0.{n + 2}"
            state = root / f"agent-{n + 1}"
            state.mkdir(parents=True, exist_ok=True)
            token = subprocess.run(
                _cli("agent", "key", "create", "--state-dir", str(state), "--purpose", "demo"),
                check=True, capture_output=True, text=True,
            ).stdout.strip()
            log = open(state / "agent.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
            procs.append(subprocess.Popen(
                _cli("agent", "run", "--state-dir", str(state), "--address", address, "--port", str(DEFAULT_PORT)),
                stdout=log, stderr=subprocess.STDOUT,
            ))
            url = f"https://{address}:{DEFAULT_PORT}"
            fleet.append({"name": f"agent-{n + 1}", "url": url, "token": token,
                          "ca_file": str(state / "certs" / "agent.crt"), "state_dir": str(state)})
        for agent, proc in zip(fleet, procs, strict=True):
            _wait_ready(agent["url"], Path(agent["ca_file"]), agent["token"], proc)
        if args.json:
            print(json.dumps({"state_dir": str(root), "agents": fleet}, indent=2), flush=True)
        else:
            print(f"IIS Fleet demo: {len(fleet)} agents under {root}", flush=True)
            for agent in fleet:
                print(f"  {agent['name']}  {agent['url']}  token {agent['token']}", flush=True)
            first = fleet[0]
            print("\nTry:", flush=True)
            print(f"  curl --cacert {first['ca_file']} -H 'Access-Token: Bearer {first['token']}' "
                  f"{first['url']}/api/webserver/websites", flush=True)
            print("\nCtrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        _sleep_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)
