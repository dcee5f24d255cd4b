"""A job run by a scoped operator is attributed to that operator: in the job record, in the controller's
audit stream and in every agent's own audit log (real controller, worker, Redis and agents)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet
from tests.e2e.test_controller_fleet import _local_redis, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[JobsFleet]:
    fleet = JobsFleet(tmp_path, _local_redis())
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(2)
        yield fleet
    finally:
        tear_down(fleet)


def _audit_text(fleet: JobsFleet, agent: str) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in (fleet.tmp / agent).rglob("audit-*.txt"))


def test_scoped_operator_is_named_in_job_controller_audit_and_agent_audit(fleet: JobsFleet) -> None:
    admin = fleet.token
    scoped = fleet.cli("controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                       "--purpose", "release bot", "--role", "operator", "--scope", "env=e2e", "--expires", "1d")
    key_id = scoped.split(".")[0]
    keys = json.loads(fleet.cli("controller", "key", "list", "--state-dir", str(fleet.state), *fleet.redis_args(),
                                "--json"))
    mine = next(key for key in keys if key["id"] == key_id)
    assert (mine["role"], mine["scope"], mine["purpose"]) == ("operator", {"env": "e2e"}, "release bot")
    assert scoped not in json.dumps(keys)

    fleet.token = scoped
    # Out of scope: a target that does not pin env=e2e starts nothing.
    status, body = fleet.call("POST", "/api/jobs", body={"action": "pool.recycle", "target": {"labels": {}},
                                                          "params": {"name": "DefaultAppPool"}})
    assert status == 403, body
    job_id = fleet.job({"action": "iis.request", "target": {"labels": {"env": "e2e"}},
                        "params": {"method": "POST", "path": "/api/webserver/application-pools",
                                   "body": {"name": "attributed"}, "expect_status": [201]}})
    view = fleet.wait_job(job_id)
    assert view["status"] == "succeeded", [(r["name"], r.get("detail")) for r in view["results"]]
    assert view["operator"] == {"id": key_id, "purpose": "release bot", "role": "operator"}

    fleet.token = admin
    status, audit = fleet.call("GET", f"/api/audit?operator={key_id}")
    assert status == 200, audit
    created = [entry for entry in audit["entries"] if entry["action"] == "job.create"]
    assert [entry["job"] for entry in created] == [job_id]
    assert created[0]["operator_purpose"] == "release bot"
    agents = fleet.agents()
    assert set(created[0]["agent"].split(",")) == {agent["id"] for agent in agents.values()}

    # Each agent wrote the operator next to the controller's key id in its own audit log.
    expected = json.dumps({"id": key_id, "purpose": "release bot", "role": "operator"}, separators=(",", ":"))
    for name in agents:
        text = wait_for(f"{name}'s audit entry", lambda n=name: expected in _audit_text(fleet, n) and
                        _audit_text(fleet, n), timeout=10)
        assert f"Operator: {expected}" in text

    # Revoked: the next request with the key answers 401.
    fleet.cli("controller", "key", "revoke", "--state-dir", str(fleet.state), *fleet.redis_args(), key_id)
    fleet.token = scoped
    assert fleet.call("GET", "/api/jobs")[0] == 401
