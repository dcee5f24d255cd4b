"""A real controller, Celery worker(s), Redis and agents for the jobs end-to-end tests (bounded waits, pids)."""

from __future__ import annotations

import io
import json
import os
import signal
import ssl
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.test_controller_fleet import Fleet, _free_port, wait_for

JOB_TIMEOUT = 60.0


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A tar.gz holding these files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class JobsFleet(Fleet):
    """Fleet plus a worker, enrolled agents on 127.0.0.2.., artifacts and jobs."""

    def __init__(self, tmp: Path, redis_url: str | None, **env: str) -> None:
        super().__init__(tmp, redis_url)
        self.env.update(
            {
                "CONTROLLER_VISIBILITY_TIMEOUT": "8",
                "CONTROLLER_JOB_STALL_TIMEOUT": "25",
                "CONTROLLER_AGENT_LOCK_TTL": "30",
                "CONTROLLER_ARTIFACT_MAX_BYTES": str(64 * 1024 * 1024),
                "CONTROLLER_ARTIFACT_MAX_UNPACKED": str(64 * 1024 * 1024),
                "CONTROLLER_WORKER_CONCURRENCY": "8",
                **env,
            }
        )
        self.agent_ports: dict[str, tuple[str, int]] = {}
        self.workers = 0

    def start_worker(self) -> str:
        """Start one more `iisfleet worker run`; returns its label."""
        self.workers += 1
        label = f"worker{self.workers}"
        self.start(label, "worker", "run", "--state-dir", str(self.state), *self.redis_args())
        return label

    def enroll(self, count: int) -> dict[str, dict[str, Any]]:
        """Operator token, then `count` agents on 127.0.0.2.. enrolled with join tokens; waits until online."""
        self.token = self.cli("controller", "key", "create", "--state-dir", str(self.state), *self.redis_args(),
                              "--purpose", "e2e", "--role", "admin")
        for index in range(1, count + 1):
            address = f"127.0.0.{index + 1}"
            join = self.cli("controller", "join-token", "create", "--state-dir", str(self.state), *self.redis_args(),
                            "--labels", f"env=e2e,slot=s{index}", "--ttl", "10m")
            self.agent_ports[f"agent{index}"] = (address, _free_port(address))
            self.start_agent(f"agent{index}", "--join-token-file", self.token_file(f"agent{index}", join))
        return wait_for(f"{count} agents online", lambda: self._online(count), timeout=60)

    def start_agent(self, name: str, *extra: str) -> None:
        """Start (or restart, keeping its enrollment) an agent."""
        address, port = self.agent_ports[name]
        self.start(name, "agent", "run", "--state-dir", str(self.tmp / name), "--address", address, "--port",
                   str(port), "--controller", self.url, "--name", name, *extra)

    def _online(self, count: int) -> dict[str, dict[str, Any]] | None:
        agents = self.agents()
        return agents if len(agents) == count and all(a["status"] == "online" for a in agents.values()) else None

    def upload(self, data: bytes, name: str = "site.tar.gz") -> tuple[int, Any]:
        """POST /api/artifacts."""
        request = urllib.request.Request(f"{self.url}/api/artifacts?name={name}", data=data, method="POST",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, context=self.ssl(), timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def job(self, body: dict[str, Any]) -> str:
        """POST /api/jobs and return the new job id."""
        status, answer = self.call("POST", "/api/jobs", body=body)
        assert status == 202, answer
        return str(answer["id"])

    def wait_job(self, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        """Poll until the job has finished; its final view."""
        def finished() -> dict[str, Any] | None:
            status, view = self.call("GET", f"/api/jobs/{job_id}")
            assert status == 200, view
            return view if view["status"] in ("succeeded", "failed", "cancelled") else None

        return dict(wait_for(f"job {job_id} to finish", finished, timeout=timeout, interval=0.3))

    def describe(self, view: dict[str, Any], logs: tuple[str, ...] = ()) -> str:
        """A job's status, error and every step's status and detail, plus the tails of some process logs:
        what an assertion message needs for CI to say why a job did not succeed."""
        lines = [f"job {view.get('id')} {view.get('action')}: {view.get('status')}; error: {view.get('error')!r}"]
        for result in view.get("results", []):
            lines.append(f"  {result.get('name')}: {result.get('status')} after {result.get('attempts')} "
                         f"attempt(s); detail: {result.get('detail')!r}")
        for label in logs:
            lines.append(f"--- tail of {label}.log ---")
            lines.append(self.log_tail(label))
        return "\n".join(lines)

    def log_tail(self, label: str, lines: int = 40) -> str:
        """The last lines a process started by this fleet logged."""
        path = self.tmp / f"{label}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def by_name(self, view: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A job view's results keyed by agent name."""
        return {result["name"]: result for result in view["results"]}

    def kill(self, label: str) -> None:
        """SIGKILL one process by pid."""
        self.stop(label, signal.SIGKILL)


def site_get(address: str, port: int, path: str = "/") -> tuple[int, str]:
    """GET a page from a site binding (plain HTTP)."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return 0, str(err)


def agent_ssl(tmp: Path, name: str) -> ssl.SSLContext:
    """Unused placeholder kept for symmetry with the fleet test."""
    return ssl.create_default_context()


def environ_pid_alive(pid: int) -> bool:
    """Whether a process id still runs."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
