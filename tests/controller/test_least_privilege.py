"""One test per attack on the controller's least privilege (issue 9): each fails without the change."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from agent.controller_link import ControllerLink, Refused
from agent.enrollment import EnrollmentError, client_context, enroll, gather_facts, new_identity
from controller.app import open_redis
from controller.auth.operators import create_key, revoke_key
from controller.auth.roles import Role
from controller.keys import CELERY
from controller.store import FleetStore
from shared.models import HostSummary
from tests.controller.conftest import ControllerUnderTest
from tests.controller.standin import StandIn

API_KEY = "agent-api-key-for-least-privilege-01"


async def _key(c: ControllerUnderTest, role: Role, scope: dict[str, str] | None = None,
               expires_in: float | None = None) -> str:
    token, _view = await create_key(c.store, f"tests-{role}", role, scope, expires_in)
    return token


async def _call(c: ControllerUnderTest, token: str, method: str, path: str, body: Any = None,
                local: str | None = None) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(local_addr=(local, 0)) if local else None
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.request(
            method, URL(c.url + path, encoded=True), json=body, ssl=c.client_ssl(),
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            text = await r.text()
            return r.status, json.loads(text) if text.startswith(("{", "[")) else text


async def _queued_tasks(c: ControllerUnderTest) -> int:
    keys = [k for k in await c.store.keys() if "celery" in k]
    return len(keys) + await c.store.job_count()


JOB = {"action": "pool.recycle", "target": {"labels": {"env": "test"}}, "params": {"name": "DefaultAppPool"}}


async def test_viewer_cannot_start_a_job(controller: ControllerUnderTest, standin: StandIn) -> None:
    viewer = await _key(controller, "viewer")
    status, body = await _call(controller, viewer, "POST", "/api/jobs", JOB)
    assert status == 403, body
    assert body["name"] == "role"
    assert await controller.store.job_count() == 0
    status, body = await _call(controller, viewer, "GET", "/api/agents")  # reading stays allowed
    assert status == 200 and [a["name"] for a in body["agents"]] == ["web1"]
    status, _ = await _call(controller, viewer, "POST", "/api/join-tokens", {"labels": {}})
    assert status == 403


async def test_scoped_operator_cannot_reach_outside_its_scope(
    controller: ControllerUnderTest, standin: StandIn
) -> None:
    controller.app[CELERY].conf.broker_url = "memory://"  # nothing may be queued, and nothing is sent anywhere
    scoped = await _key(controller, "operator", {"env": "staging"})
    before = await _queued_tasks(controller)
    for target in ({"labels": {"env": "test"}}, {"labels": {}}, {"agents": [standin.enrollment.agent_id]}):
        status, body = await _call(controller, scoped, "POST", "/api/jobs", {**JOB, "target": target})
        assert status == 403, (target, body)
    assert await _queued_tasks(controller) == before
    agent_id = standin.enrollment.agent_id
    assert (await _call(controller, scoped, "GET", "/api/agents"))[1]["agents"] == []
    assert (await _call(controller, scoped, "GET", f"/api/agents/{agent_id}"))[0] == 404
    status, _ = await _call(controller, scoped, "GET", f"/api/agents/{agent_id}/iis/api/webserver/websites")
    assert status == 404
    assert (await _call(controller, scoped, "GET", "/api/prometheus/targets"))[1] == []


async def test_operator_cannot_add_a_files_location_through_the_gateway(
    controller: ControllerUnderTest, standin: StandIn
) -> None:
    operator = await _key(controller, "operator")
    base = f"/api/agents/{standin.enrollment.agent_id}/iis"
    location = {"path": "/", "claims": ["read", "write"]}
    status, body = await _call(controller, operator, "POST", f"{base}/api/files/locations", location)
    assert status == 403, body
    assert (await _call(controller, operator, "POST", f"{base}/API/Files/Locations/", location))[0] == 403
    for path in ("/security/api-keys", "/security/access-tokens", "/Security/api-keys"):
        assert (await _call(controller, operator, "GET", base + path))[0] == 403
    # What an operator may do still works, and the agent hears which operator asked.
    status, _ = await _call(controller, operator, "POST", f"{base}/echo/x", {"a": 1})
    assert status == 200
    async with aiohttp.ClientSession() as http:
        async with http.get(controller.url + f"{base}/echo/x", ssl=controller.client_ssl(),
                            headers={"Authorization": f"Bearer {operator}",
                                     "X-IISFleet-Operator": '{"id":"forged"}'}) as r:
            sent = json.loads(r.headers["X-Operator"])
    assert sent == {"id": operator.split(".")[0], "purpose": "tests-operator", "role": "operator"}


@pytest.mark.parametrize("path", [
    "/api/../security/api-keys", "/api/%2e%2e/security/api-keys", "/api//webserver", "/api/webserver%2f..%2fx",
    "/api/%2E%2e/security", "/api/webserver/%252e%252e/x", "/api/a\\..\\security",
])
async def test_iis_request_with_an_unsafe_path_is_refused(controller: ControllerUnderTest, path: str) -> None:
    job = {"action": "iis.request", "target": {"labels": {}}, "params": {"method": "GET", "path": path}}
    status, body = await _call(controller, controller.token, "POST", "/api/jobs", job)
    assert status == 400, body
    assert body["name"] == "params.path"


@pytest.mark.parametrize("tail", ["api/../security/api-keys", "api/%2e%2e/security/api-keys", "api//webserver",
                                  "api/x%2F..%2Fsecurity", "api/./webserver"])
async def test_gateway_path_with_dot_segments_is_refused(
    controller: ControllerUnderTest, standin: StandIn, tail: str
) -> None:
    path = f"/api/agents/{standin.enrollment.agent_id}/iis/{tail}"
    assert (await _call(controller, controller.token, "GET", path))[0] == 400


async def test_iis_request_to_security_needs_admin(controller: ControllerUnderTest, standin: StandIn) -> None:
    operator = await _key(controller, "operator")
    job = {"action": "iis.request", "target": {"labels": {"env": "test"}},
           "params": {"method": "POST", "path": "/api/files/locations", "body": {"path": "/"}}}
    assert (await _call(controller, operator, "POST", "/api/jobs", job))[0] == 403
    assert await controller.store.job_count() == 0


@pytest.mark.parametrize("path", ["/api/access-token#x", "/api/files/locations#/", "/api/x#/../files/locations"])
async def test_iis_request_path_with_fragment_is_refused(controller: ControllerUnderTest, standin: StandIn,
                                                         path: str) -> None:
    """Security review: `#` hid the real agent path from the role lookup (the fragment is never sent)."""
    operator = await _key(controller, "operator")
    job = {"action": "iis.request", "target": {"labels": {"env": "test"}},
           "params": {"method": "POST", "path": path, "body": {}}}
    status, body = await _call(controller, operator, "POST", "/api/jobs", job)
    assert status == 400 and "path" in json.dumps(body), body
    assert await controller.store.job_count() == 0


@pytest.mark.parametrize(("name", "url"), [
    ("web9", "https://*.corp.example:9"),
    ("iisfleet-controller", "https://127.0.0.3:9"),
    ("web9", "https://iisfleet-controller:9"),
])
async def test_wildcard_or_controller_name_enrollment_is_refused(
    controller: ControllerUnderTest, tmp_path: Path, name: str, url: str
) -> None:
    token = await controller.join_token()
    with pytest.raises(EnrollmentError, match=r"\(403\)"):
        await enroll(tmp_path / "a", controller.url, token, name=name, url=url, api_key=API_KEY,
                     facts=gather_facts())
    assert await controller.store.agent_ids() == []
    # A wildcard name sent around the agent's own checks is refused by the controller too.
    _key_pem, csr = new_identity("web9")
    body = {"token": token, "name": "*.corp.example", "url": "https://127.0.0.3:9", "csr": csr, "api_key": API_KEY,
            "facts": gather_facts().model_dump()}
    async with aiohttp.ClientSession() as http:
        async with http.post(controller.url + "/api/enroll", json=body, ssl=controller.client_ssl()) as r:
            assert r.status in (400, 403)
    assert await controller.store.agent_ids() == []


async def test_invalid_names_and_pinned_tokens(controller: ControllerUnderTest, tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError, match=r"\(400\)"):
        await enroll(tmp_path / "a", controller.url, await controller.join_token(), name="web_1",
                     url="https://127.0.0.3:9", api_key=API_KEY, facts=gather_facts())
    pinned = (await _call(controller, controller.token, "POST", "/api/join-tokens",
                          {"name": "web2", "address": "127.0.0.3"}))[1]["token"]
    with pytest.raises(EnrollmentError, match="pinned to another name"):
        await enroll(tmp_path / "b", controller.url, pinned, name="web3", url="https://127.0.0.3:9",
                     api_key=API_KEY, facts=gather_facts())
    with pytest.raises(EnrollmentError, match="pinned to another address"):
        await enroll(tmp_path / "c", controller.url, pinned, name="web2", url="https://127.0.0.4:9",
                     api_key=API_KEY, facts=gather_facts())
    done = await enroll(tmp_path / "d", controller.url, pinned, name="web2", url="https://127.0.0.3:9",
                        api_key=API_KEY, facts=gather_facts())  # the refusals left the token unused
    assert done.name == "web2"


async def test_superseded_certificate_is_refused_both_ways(
    controller: ControllerUnderTest, standin: StandIn, tmp_path: Path
) -> None:
    enrollment = standin.enrollment
    gateway = f"/api/agents/{enrollment.agent_id}/iis/api/webserver/websites"
    assert (await _call(controller, controller.token, "GET", gateway))[0] == 200
    old_identity = tmp_path / "old-identity.pem"
    old_identity.write_bytes(enrollment.identity_file.read_bytes())
    link = ControllerLink(enrollment, lambda: (gather_facts(), HostSummary()))
    old = client_context(enrollment.ca_file.read_bytes(), old_identity)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        await link.renew(session)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=old)) as session:
        await link.heartbeat(session)  # as if the renewal's answer was lost: the old one still works
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        await link.heartbeat(session)  # the agent uses its new certificate: the old one is retired
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=old)) as session:
        with pytest.raises(Refused, match="superseded|revoked"):
            await link.heartbeat(session)
    # The stand-in still serves the old certificate: the controller refuses to talk to it.
    status, body = await _call(controller, controller.token, "GET", gateway)
    assert status == 502, body
    assert "registered certificate" in body["detail"]


async def test_expired_and_revoked_tokens_answer_401(controller: ControllerUnderTest) -> None:
    short = await _key(controller, "viewer", expires_in=0.5)
    assert (await _call(controller, short, "GET", "/api/agents"))[0] == 200
    await asyncio.sleep(0.8)
    status, body = await _call(controller, short, "GET", "/api/agents")
    assert status == 401 and body["title"] == "Unauthorized"
    victim = await _key(controller, "operator")
    assert (await _call(controller, victim, "GET", "/api/jobs"))[0] == 200
    status, view = await _call(controller, controller.token, "DELETE", f"/api/keys/{victim.split('.')[0]}")
    assert status == 200 and view["revoked_on"]
    assert (await _call(controller, victim, "GET", "/api/jobs"))[0] == 401
    # Revoked through another connection to the same Redis (as another controller or the CLI would): the
    # running controller, which has just verified the token, refuses it on the next request.
    other = await _key(controller, "operator")
    assert (await _call(controller, other, "GET", "/api/jobs"))[0] == 200
    redis = open_redis(controller.settings.redis_url or "")
    try:
        await revoke_key(FleetStore(redis, controller.settings.redis_prefix), other)
    finally:
        await redis.aclose()
    assert (await _call(controller, other, "GET", "/api/jobs"))[0] == 401
    listed = (await _call(controller, controller.token, "GET", "/api/keys"))[1]["keys"]
    assert {k["id"]: k["role"] for k in listed}[victim.split(".")[0]] == "operator"
    assert not any("hash" in field for key in listed for field in key) and victim not in json.dumps(listed)


async def test_keys_made_before_roles_are_admin(controller: ControllerUnderTest) -> None:
    await controller.store.add_operator_key("0123456789abcdef", {
        "token_hash": "0" * 64, "purpose": "old", "created_on": "2025-01-01T00:00:00+00:00"})
    keys = {k["id"]: k for k in (await _call(controller, controller.token, "GET", "/api/keys"))[1]["keys"]}
    assert (keys["0123456789abcdef"]["role"], keys["0123456789abcdef"]["expires_on"]) == ("admin", None)


async def test_failed_logins_are_throttled_per_address(controller: ControllerUnderTest) -> None:
    good = controller.token
    assert (await _call(controller, good, "GET", "/api/agents"))[0] == 200
    statuses = []
    for n in range(50):
        statuses.append((await _call(controller, f"{n:016x}.{'B' * 43}", "GET", "/api/agents"))[0])
    limit = controller.settings.auth_max_failures
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    assert (await _call(controller, good, "GET", "/api/agents"))[0] == 200  # a token this process knows
    fresh = await _key(controller, "viewer")
    assert (await _call(controller, fresh, "GET", "/api/agents"))[0] == 429  # unknown to it: must wait
    assert (await _call(controller, fresh, "GET", "/api/agents", local="127.0.0.5"))[0] == 200  # other address


async def test_audit_filters_by_operator_agent_and_time(controller: ControllerUnderTest, standin: StandIn) -> None:
    operator = await _key(controller, "operator")
    agent_id = standin.enrollment.agent_id
    await _call(controller, operator, "GET", f"/api/agents/{agent_id}/iis/api/webserver/websites")
    await _call(controller, controller.token, "POST", "/api/join-tokens", {"labels": {"env": "x"}})
    mine = (await _call(controller, controller.token, "GET", f"/api/audit?operator={operator.split('.')[0]}"))[1]
    assert [e["action"] for e in mine["entries"]] == ["gateway"]
    assert mine["entries"][0]["operator_purpose"] == "tests-operator"
    by_agent = (await _call(controller, controller.token, "GET", f"/api/audit?agent={agent_id}"))[1]["entries"]
    assert {e["agent"] for e in by_agent} == {agent_id}
    joins = (await _call(controller, controller.token, "GET", "/api/audit"))[1]["entries"]
    assert joins[0]["action"] == "join_token.create" and joins[0]["operator"] == controller.token.split(".")[0]
    assert (await _call(controller, controller.token, "GET", "/api/audit?since=2999-01-01T00:00:00Z"))[1] == {
        "entries": []}


async def test_every_operator_route_checks_token_and_role(controller: ControllerUnderTest) -> None:
    from controller.api.routes import ROUTES

    viewer = await _key(controller, "viewer")
    checked = 0
    for route in ROUTES:
        if route.auth != "operator":
            continue
        method = "POST" if route.method == "*" else route.method
        path = route.path.replace("{path:.*}", "api/webserver").replace("{id}", "x").replace("{sha256}", "0" * 64)
        assert (await _call(controller, "", method, path))[0] == 401, route.name
        if method not in ("GET", "HEAD"):
            status, body = await _call(controller, viewer, method, path, {})
            assert status == 403 and body["name"] == "role", (route.name, status, body)
        checked += 1
    assert checked >= 20


async def test_scoped_admin_cannot_move_an_agent_out_of_its_scope(
    controller: ControllerUnderTest, standin: StandIn
) -> None:
    admin = await _key(controller, "admin", {"env": "test"})
    path = f"/api/agents/{standin.enrollment.agent_id}"
    assert (await _call(controller, admin, "PATCH", path, {"labels": {"env": "prod"}}))[0] == 400
    assert (await _call(controller, admin, "PATCH", path, {"labels": {"env": None}}))[0] == 400
    assert (await _call(controller, admin, "GET", path))[1]["labels"] == {"env": "test"}  # unchanged
    assert (await _call(controller, admin, "PATCH", path, {"labels": {"role": "web"}}))[0] == 200
