"""Two controllers and two workers on one Redis and one shared state directory (CA, certificate, secrets key).

Agents enroll through either controller; the gateway of one reaches an agent enrolled through the other; a
job started through one controller completes after that controller is SIGKILLed, and its whole history can
be followed through the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet, site_get, tar_gz
from tests.e2e.test_controller_fleet import _free_port, _local_redis, wait_for

pytestmark = pytest.mark.e2e
SITE, PORT = "pair", 8095


class TwoControllers(JobsFleet):
    """A JobsFleet with a second controller process on its own port, sharing state dir and Redis."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.first_url = self.url
        self.second_url = f"https://127.0.0.1:{_free_port('127.0.0.1')}"

    def start_second(self) -> None:
        """Start controller2 on the same state directory and Redis; wait until it answers."""
        port = self.second_url.rsplit(":", 1)[1]
        self.start("controller2", "controller", "run", "--state-dir", str(self.state), "--address", "127.0.0.1",
                   "--port", port, *self.redis_args())
        self.use(self.second_url)
        wait_for("the second controller", lambda: self.call("GET", "/api/enroll/ca", auth=False)[0] == 200)

    def use(self, url: str) -> None:
        """Send the following calls (and enrollments) to this controller."""
        self.url = url


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoControllers]:
    fleet = TwoControllers(tmp_path_factory.mktemp("pair"), _local_redis())
    try:
        fleet.start_controller()
        fleet.start_second()
        fleet.start_worker()
        fleet.start_worker()
        yield fleet
    finally:
        tear_down(fleet)


def _answered(fleet: TwoControllers, path: str) -> tuple[int, Any] | None:
    """The gateway's answer, or None while it reports the agent unreachable (502)."""
    status, body = fleet.call("GET", path)
    return None if status == 502 else (status, body)


def _events(fleet: TwoControllers, job_id: str) -> list[str]:
    status, text = fleet.call("GET", f"/api/jobs/{job_id}/events")  # follows until job.finished
    assert status == 200, text
    return [line.split(": ", 1)[1] for line in str(text).splitlines() if line.startswith("event: ")]


def test_either_controller_serves_and_a_killed_one_loses_nothing(pair: TwoControllers) -> None:
    pair.use(pair.first_url)
    pair.enroll(1)  # agent1 through the first controller
    pair.use(pair.second_url)
    join = pair.cli("controller", "join-token", "create", "--state-dir", str(pair.state), *pair.redis_args(),
                    "--labels", "env=e2e,slot=s2", "--ttl", "10m")
    pair.agent_ports["agent2"] = ("127.0.0.3", _free_port("127.0.0.3"))
    pair.start_agent("agent2", "--join-token", join)  # agent2 through the second one
    agents = wait_for("2 agents online", lambda: pair._online(2), timeout=60)
    # The gateway of each controller reaches the agent enrolled through the other (one CA, one secrets key).
    # (An agent counts as online from its enrollment, a moment before its API listens: poll, bounded.)
    for url, name in ((pair.first_url, "agent2"), (pair.second_url, "agent1")):
        pair.use(url)
        path = f"/api/agents/{agents[name]['id']}/iis/api/webserver/websites"
        status, body = wait_for(f"{name} through {url}", lambda path=path: _answered(pair, path), timeout=20)
        assert status == 200 and "websites" in body, (url, name, body)

    pair.use(pair.first_url)
    job = pair.job({"action": "site.create", "target": {"labels": {"env": "e2e"}},
                    "params": {"name": SITE, "bindings": [{"port": PORT}]}})
    assert pair.wait_job(job)["status"] == "succeeded"
    status, artifact = pair.upload(tar_gz({"index.html": b"through either controller"}))
    assert status == 201, artifact
    job = pair.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                    "params": {"site": SITE, "artifact": artifact["sha256"]},
                    "strategy": {"batch_size": 1, "health_check": {"path": "/", "contains": "either"}}})
    pair.kill("controller")  # SIGKILL right after the 202: the job lives in Redis and the workers
    pair.use(pair.second_url)
    events = _events(pair, job)
    assert events[0] == "job.created" and events[-1] == "job.finished", events
    assert events.count("step.succeeded") == 2 and events.count("batch.started") == 2, events
    view = pair.wait_job(job)
    assert view["status"] == "succeeded", view
    for address in ("127.0.0.2", "127.0.0.3"):
        assert site_get(address, PORT, "/")[1] == "through either controller"
