"""Request hygiene: no secret in stored job data, and history that expires by the retention setting."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controller.auth.operators import SYSTEM
from controller.auth.roles import agent_path_role
from controller.keys import SECRET_BOX
from controller.services import retention
from controller.services.actions.base import StepContext
from controller.services.actions.request import RequestParams, run
from controller.services.agent_client import AgentClient
from controller.services.job_models import Strategy
from controller.services.jobs import job_params
from controller.services.redact import is_credential_path, redact
from tests.controller.conftest import ControllerUnderTest, free_port

SECRET = "hunter2-do-not-store-me"


async def _call(c: ControllerUnderTest, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=c.auth()) as http:
        async with http.request(method, c.url + path, json=body, ssl=c.client_ssl()) as r:
            return r.status, await r.json()


async def test_iis_request_params_keep_no_secret_in_redis(controller: ControllerUnderTest) -> None:
    await controller.store.put_agent("a000000000000001", {"name": "web1", "url": "https://127.0.0.2:1",
                                                          "labels": json.dumps({"env": "t"})})
    body = {"name": "pool", "processModel": {"identity_type": "SpecificUser", "username": "svc",
                                             "password": SECRET}}
    job = {"action": "iis.request", "target": {"labels": {"env": "t"}},
           "params": {"method": "POST", "path": "/api/webserver/application-pools", "body": body}}
    status, view = await _call(controller, "POST", "/api/jobs", job)
    assert status == 202, view
    assert view["params"]["body"]["processModel"] == {"identity_type": "SpecificUser", "username": "svc",
                                                      "password": "{HIDDEN}"}
    for key in await controller.store.keys():
        kind = await controller.store.redis.type(key)
        dump = json.dumps(await controller.store.redis.hgetall(key)) if kind == "hash" else ""
        assert SECRET not in dump, key
    stored = await controller.store.job(view["id"])
    assert job_params(stored, controller.app[SECRET_BOX])["body"]["processModel"]["password"] == SECRET


async def test_iis_request_answer_keeps_no_token(controller: ControllerUnderTest) -> None:
    port = free_port()
    async def new_key(request: web.Request) -> web.Response:
        return web.json_response({"id": "k1", "purpose": "p", "access_token": SECRET}, status=201)

    app = web.Application()
    app.router.add_post("/api/security/api-keys", new_key)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            client = AgentClient(session, f"http://127.0.0.1:{port}", "k", "web1", serial="",
                                 operator=SYSTEM)
            await controller.store.lock_agent("a1", "job1:a1", 30)
            ctx = StepContext(store=controller.store, settings=controller.settings, client=client, probe=session,
                              job_id="job1", agent_id="a1", job={"created": str(time.time())}, strategy=Strategy(),
                              owner="job1:a1", fence=1)
            answer = await run(ctx, RequestParams(method="POST", path="/api/security/api-keys", body={}))
    finally:
        await runner.cleanup()
    assert answer["body"] == {"id": "k1", "purpose": "p", "access_token": "{HIDDEN}"}
    assert SECRET not in json.dumps(await controller.store.step_facts("job1", "a1"))


async def test_retention_removes_old_finished_jobs_audit_and_artifacts(controller: ControllerUnderTest) -> None:
    store = controller.store
    old = time.time() - controller.settings.retention - 60
    base = {"action": "pool.recycle", "target": "{}", "params": "{}", "strategy": "{}", "agents": '["a1"]',
            "names": "{}", "batches": "[]", "batch": "0", "created": str(old)}
    await store.add_job("oldfinished", {**base, "status": "succeeded"}, {"a1": "{}"}, old)
    await store.add_job("oldrunning", {**base, "status": "running"}, {"a1": "{}"}, old)
    await store.add_job("fresh", {**base, "status": "succeeded"}, {"a1": "{}"}, time.time())
    await store.add_event("oldfinished", {"type": "job.created"})
    await store.record_step("oldfinished", "a1", {"sent": "1"})
    await store.redis.xadd(store._key("audit"), {"action": "gateway"}, id=f"{int(old * 1000)}-0")
    await store.audit({"action": "gateway"}, 1000)
    art = controller.settings.artifact_dir / "ab"
    art.mkdir(parents=True)
    for name in ("ab" + "0" * 62, "ab" + "0" * 62 + ".json"):
        (art / name).write_text("x")
        os.utime(art / name, (old, old))
    assert await retention.sweep(store, controller.settings) == 1
    assert await store.job("oldfinished") == {} and await store.events("oldfinished") == []
    assert await store.step_facts("oldfinished", "a1") == {}
    assert (await store.job("oldrunning"))["status"] == "running"
    assert [j for j, _ in await store.job_page(0, 10)] == ["fresh", "oldrunning"]
    assert len(await store.audit_entries(10)) == 1
    assert list(art.iterdir()) == []


async def test_secret_files_of_the_controller_are_private(controller: ControllerUnderTest, tmp_path: Path) -> None:
    from shared.redis_url import locate, url_file

    locate(tmp_path, "redis://:password@127.0.0.1:6379/0", write=True).close()
    state = controller.settings.state_dir
    for path in (url_file(tmp_path), state / "secrets.key", state / "pki" / "ca.key", state / "pki" / "controller.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_redaction_hides_token_values_in_any_case() -> None:
    """Security review: a renewed token comes back as `value`; key-like members hide whatever their case."""
    answer = {"id": "t", "Value": SECRET, "api_key": {"id": "k"}, "ACCESS_TOKEN": SECRET, "Token": SECRET,
              "KEY": SECRET, "Password": SECRET, "clientSecret": SECRET, "name": "kept"}
    shown = redact(answer)
    assert SECRET not in json.dumps(shown) and shown["name"] == "kept" and shown["id"] == "t"
    assert all(is_credential_path(p) for p in ("/api/access-token", "/API/Access-Token/", "/security/api-keys?x"))
    assert not is_credential_path("/api/webserver/application-pools")


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "PUT"])
def test_renewing_the_controller_token_needs_admin(method: str) -> None:
    assert agent_path_role(method, "/api/access-token") == "admin"
    assert agent_path_role("GET", "/api/access-token") == "viewer"
