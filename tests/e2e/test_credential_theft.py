"""Security review: an operator may not obtain the controller's agent key (gateway or iis.request job).

Real controller, worker, Redis and agents: the controller forwards writes to /api/access-token only for
admins, the agent refuses them for its controller-scoped key anyway, and no job result keeps a token.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet
from tests.e2e.test_controller_fleet import _local_redis

pytestmark = pytest.mark.e2e


def test_operator_cannot_steal_the_controller_key(tmp_path: Path) -> None:
    fleet = JobsFleet(tmp_path, _local_redis())
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(1)
        admin = fleet.token
        agent = fleet.agents()["agent1"]["id"]
        operator = fleet.cli("controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                             "--purpose", "staging bot", "--role", "operator", "--scope", "env=e2e", "--expires", "1d")
        renew = f"/api/agents/{agent}/iis/api/access-token"
        fleet.token = operator
        status, body = fleet.call("POST", renew, body={})
        assert status == 403 and "value" not in json.dumps(body), body
        job_body = {"action": "iis.request", "target": {"agents": [agent]},
                    "params": {"method": "POST", "path": "/api/access-token"}}
        assert fleet.call("POST", "/api/jobs", body=job_body)[0] == 403
        # An admin passes the controller, and the agent still refuses its controller-scoped key.
        fleet.token = admin
        status, body = fleet.call("POST", renew, body={})
        assert status == 403 and "value" not in json.dumps(body), body
        job = fleet.job({"action": "iis.request", "target": {"agents": [agent]},
                         "params": {"method": "POST", "path": "/api/access-token", "body": {},
                                    "expect_status": [201, 403]}})
        view = fleet.wait_job(job)
        output = view["results"][0]["output"]
        assert output["status"] == 403 and output["body"] == "{HIDDEN}", output
        # The controller's key is intact: the gateway still reaches the agent.
        assert fleet.call("GET", f"/api/agents/{agent}/iis/api/webserver/application-pools")[0] == 200
    finally:
        tear_down(fleet)
