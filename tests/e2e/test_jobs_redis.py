"""A job survives (or is failed, never left `running`) when its dedicated Redis restarts mid-job."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.jobs_fleet import JobsFleet, tar_gz
from tests.e2e.test_controller_fleet import _free_port, wait_for

pytestmark = pytest.mark.e2e


class RedisServer:
    """A throwaway redis-server with an append-only file, restartable by pid."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.port = _free_port("127.0.0.1")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start on the same port and data directory; wait until it answers."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--appendonly", "yes", "--save", "", "--protected-mode", "no"]
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        import redis

        wait_for("redis", lambda: redis.Redis(port=self.port, socket_timeout=0.5).ping(), timeout=15)

    def stop(self) -> None:
        """SIGTERM by pid (Redis flushes its append-only file), SIGKILL if it lingers."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_job_finishes_or_fails_when_redis_restarts(tmp_path: Path, redis_server: RedisServer) -> None:
    fleet = JobsFleet(tmp_path, redis_server.url, CONTROLLER_JOB_STALL_TIMEOUT="15")
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(3)
        job = fleet.job({"action": "site.create", "target": {"labels": {"env": "e2e"}},
                         "params": {"name": "blog", "bindings": [{"port": 8092}]}})
        view = fleet.wait_job(job)
        assert view["status"] == "succeeded", fleet.describe(view)
        status, artifact = fleet.upload(tar_gz({"index.html": b"after the restart"}))
        assert status == 201, artifact
        job = fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                         "params": {"site": "blog", "artifact": artifact["sha256"]},
                         "strategy": {"batch_size": 1, "health_check": {"path": "/", "contains": "restart"}}})
        wait_for("the job to run", lambda: fleet.call("GET", f"/api/jobs/{job}")[1]["status"] == "running",
                 timeout=20, interval=0.02)
        redis_server.stop()
        time.sleep(1.0)
        redis_server.start()

        def settled() -> dict[str, object] | None:
            try:
                status, view = fleet.call("GET", f"/api/jobs/{job}")
            except OSError:
                return None
            return view if status == 200 and view["status"] in ("succeeded", "failed") else None

        view = wait_for("the job to finish or be failed", settled, timeout=60, interval=0.5)
        assert view["status"] in ("succeeded", "failed")
        print("job after the Redis restart:", fleet.describe(view))
        if view["status"] == "failed":
            assert view["error"], fleet.describe(view)
        # The same worker keeps consuming after the restart: a new job runs to the end.
        after = fleet.job({"action": "pool.recycle", "target": {"labels": {"env": "e2e"}},
                           "params": {"name": "blog"}})
        view = fleet.wait_job(after)
        assert view["status"] == "succeeded", fleet.describe(view, logs=("worker1", "agent1", "agent2", "agent3"))
    finally:
        fleet.stop_all()
