"""Bootstrap: request checks, the sh install script run for real with stub interpreters, service and API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from controller.bootstrap import records, service
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.plan import AgentPlan, linux_script, make_plan
from controller.bootstrap.remote import CommandResult
from controller.store import FleetStore
from tests.controller.conftest import ControllerUnderTest, free_port

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"
TOKEN = "0123456789ab." + "s" * 43 + "." + "f" * 64


def _request(**extra: Any) -> BootstrapRequest:
    return BootstrapRequest.model_validate({"host": "10.0.0.5", "username": "root", "password": "pw", **extra})


def test_request_checks() -> None:
    request = _request()
    assert (request.agent_name, request.agent_address, request.target_port) == ("10.0.0.5", "10.0.0.5", 22)
    assert "pw" not in repr(request)
    winrm = _request(transport="winrm")
    assert winrm.target_port == 5986 and winrm.target_dir.startswith("C:\\")
    bad: list[dict[str, Any]] = [
        {"password": None},  # no credential at all
        {"name": "web1; rm -rf /"},
        {"install_dir": "relative/dir"},
        {"install_dir": "/opt/x'y"},
        {"host_key_fingerprint": "MD5:aa"},
        {"service": "nssm"},  # a Windows service manager on ssh
        {"transport": "winrm", "private_key": KEY},
        {"controller_url": "http://ctl:55540"},
        {"unknown": 1},
    ]
    for extra in bad:
        with pytest.raises(ValidationError):
            _request(**extra)


def _plan(tmp_path: Path, python: Path | None, wheel: str | None) -> AgentPlan:
    request = _request(install_dir=str(tmp_path / "agent"), name="web1", address="127.0.0.1", service="nohup",
                       python=str(python) if python else None, base_python=str(tmp_path / "base-python"))
    return make_plan(request, controller_url="https://127.0.0.1:1", join_token=TOKEN, wheel_name=wheel)


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run_script(plan: AgentPlan) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-s"], input=linux_script(plan), capture_output=True, text=True, timeout=60)


def test_linux_script_installs_into_a_venv_and_restarts(tmp_path: Path) -> None:
    """Run the real script; the "interpreters" are stubs that log their arguments (no pip, no network)."""
    calls = tmp_path / "calls.log"
    venv_python = (
        f'echo "$@" >> {calls}\n'
        'case "$*" in *"agent run"*) exec sleep 60;; esac\n'
    )
    # base-python -m venv DIR: create DIR/bin/python as the stub above.
    _stub(tmp_path / "base-python", f'mkdir -p "$3/bin"\ncat > "$3/bin/python" <<"EOF"\n#!/bin/sh\n{venv_python}EOF\n'
          'chmod 755 "$3/bin/python"\n')
    plan = _plan(tmp_path, None, "iisfleet-0.1.0-py3-none-any.whl")
    first = _run_script(plan)
    assert first.returncode == 0, first.stderr
    assert "creating venv" in first.stdout and "started pid" in first.stdout
    pid_file = Path(plan.install_dir) / "agent.pid"
    first_pid = int(pid_file.read_text())
    try:
        os.kill(first_pid, 0)
        logged = calls.read_text()
        assert f"-m pip install --quiet --disable-pip-version-check --upgrade {plan.wheel_path}" in logged
        token_file = Path(plan.install_dir) / "join-token"
        assert f"--join-token-file {token_file} --name web1" in logged and TOKEN not in logged
        assert token_file.read_text().strip() == TOKEN and token_file.stat().st_mode & 0o777 == 0o600
        # A second run reuses the venv and replaces the running agent.
        second = _run_script(plan)
        assert second.returncode == 0, second.stderr
        assert "creating venv" not in second.stdout
        second_pid = int(pid_file.read_text())
        assert second_pid != first_pid
        time.sleep(0.3)
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)
    finally:
        for pid in {first_pid, int(pid_file.read_text())}:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def test_linux_script_reports_an_agent_that_dies(tmp_path: Path) -> None:
    python = tmp_path / "python"
    _stub(python, 'case "$*" in *"agent run"*) echo "error: the join token is malformed" >&2; exit 1;; esac\n')
    result = _run_script(_plan(tmp_path, python, None))
    assert result.returncode == 4
    assert "the join token is malformed" in result.stderr


class FakeRemote:
    """A Remote whose install "starts" an agent by writing what enrollment and a heartbeat would."""

    def __init__(self, store: FleetStore, exit_status: int = 0, enrolls: bool = True) -> None:
        self.store, self.exit_status, self.enrolls = store, exit_status, enrolls
        self.files: dict[str, bytes] = {}
        self.plans: list[AgentPlan] = []
        self.closed = False

    host_key_fingerprint = "SHA256:" + "A" * 43
    local_address = "192.0.2.1"

    async def put(self, path: str, data: bytes) -> None:
        self.files[path] = data

    async def install(self, plan: AgentPlan) -> CommandResult:
        self.plans.append(plan)
        if self.enrolls and self.exit_status == 0:
            await self.store.claim_name(plan.name, "agent-1")
            await self.store.put_agent("agent-1", {"name": plan.name, "url": "https://x:1", "labels": "{}"})
            await self.store.record_heartbeat("agent-1", time.time() + 0.01, "{}", '{"ts": 1}')  # a real beat
        return CommandResult(self.exit_status, f"installing with {plan.join_token}\nstarted pid 42\n")

    async def log_tail(self, plan: AgentPlan) -> str:
        return "agent log: cannot reach controller"

    async def close(self) -> None:
        self.closed = True


def _ctx(controller: ControllerUnderTest, remote: FakeRemote, wheel: Path | None = None) -> service.BootstrapContext:
    async def connect(request: BootstrapRequest) -> FakeRemote:
        return remote

    async def wheel_source(cache: Path) -> Path:
        assert wheel is not None
        return wheel

    return service.BootstrapContext(
        store=controller.store, state_dir=controller.settings.state_dir, ca_fingerprint=controller.ca.fingerprint,
        offline_after=controller.settings.offline_after, controller_url=controller.url,
        controller_port=controller.settings.port, connect=connect, wheel=wheel_source, poll_interval=0.05,
    )


async def _run(ctx: service.BootstrapContext, request: BootstrapRequest) -> dict[str, Any]:
    bootstrap_id = await service.create_record(ctx, request)
    await service.execute(ctx, bootstrap_id, request)
    view = await records.view(ctx.store, bootstrap_id)
    assert view is not None
    return view


async def test_service_installs_the_wheel_and_waits_for_the_agent(
    controller: ControllerUnderTest, tmp_path: Path
) -> None:
    wheel = tmp_path / "iisfleet-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK wheel bytes")
    remote = FakeRemote(controller.store)
    view = await _run(_ctx(controller, remote, wheel), _request(name="web1", labels={"env": "t"}, password="hunter2"))
    assert view["status"] == "succeeded", view
    assert view["agent_id"] == "agent-1" and view["step"] == "done" and remote.closed
    plan = remote.plans[0]
    assert remote.files == {plan.wheel_path: b"PK wheel bytes"}
    assert plan.controller_url == controller.url and plan.join_token.endswith(controller.ca.fingerprint)
    # The join token is scrubbed from the stored output; no credential is in the record.
    assert plan.join_token not in view["output"] and "***" in view["output"]
    raw = await controller.store.redis.hgetall(f"{controller.store.prefix}bootstrap:{view['id']}")
    assert not any("hunter2" in value or plan.join_token in value for value in raw.values())


async def test_service_reports_failures(controller: ControllerUnderTest) -> None:
    request = _request(name="web2", python="/usr/bin/python3", wait_timeout=1)
    failed = await _run(_ctx(controller, FakeRemote(controller.store, exit_status=3)), request)
    assert failed["status"] == "failed" and "exit status 3" in failed["error"]
    silent = await _run(_ctx(controller, FakeRemote(controller.store, enrolls=False)), request)
    assert silent["status"] == "failed" and "did not come online within 1 s" in silent["error"]
    assert "cannot reach controller" in silent["output"]


async def test_abandoned_record_shows_failed(controller: ControllerUnderTest) -> None:
    ctx = _ctx(controller, FakeRemote(controller.store))
    bootstrap_id = await service.create_record(ctx, _request())
    view = await records.view(controller.store, bootstrap_id, now=time.time() + 86400)
    assert view is not None and view["status"] == "failed" and "stopped" in view["error"]


async def test_api_accepts_and_reports(controller: ControllerUnderTest) -> None:
    closed_port = free_port()
    body = {"host": "127.0.0.1", "port": closed_port, "username": "root", "password": "pw", "connect_timeout": 2,
            "python": "/usr/bin/python3"}
    async with aiohttp.ClientSession(base_url=controller.url) as http:
        ssl = controller.client_ssl()
        async with http.post("/api/bootstrap", json=body, ssl=ssl) as response:
            assert response.status == 401 or response.status == 403
        async with http.post("/api/bootstrap", json={**body, "password": None}, ssl=ssl,
                             headers=controller.auth()) as response:
            assert response.status == 400
        async with http.post("/api/bootstrap", json=body, ssl=ssl, headers=controller.auth()) as response:
            assert response.status == 202
            accepted = await response.json()
            assert response.headers["Location"] == f"/api/bootstrap/{accepted['id']}"
            assert "password" not in accepted and accepted["status"] == "running"
        for _ in range(100):
            async with http.get(f"/api/bootstrap/{accepted['id']}", ssl=ssl, headers=controller.auth()) as response:
                view = await response.json()
            if view["status"] != "running":
                break
            await asyncio.sleep(0.05)
        assert view["status"] == "failed" and "cannot connect" in view["error"], view
        async with http.get("/api/bootstrap/nope", ssl=ssl, headers=controller.auth()) as response:
            assert response.status == 404


async def test_wheel_is_built_once_from_the_source_and_cached(tmp_path: Path) -> None:
    from importlib.metadata import version

    from controller.bootstrap.errors import BootstrapError
    from controller.bootstrap.wheel import ensure_wheel, source_dir

    source = source_dir()
    if source is None:
        pytest.skip("iisfleet is not installed from a source directory here")
    try:
        wheel = await ensure_wheel(tmp_path, source=source, version=version("iisfleet"))
    except BootstrapError as err:
        pytest.skip(f"pip cannot build a wheel here (no package index?): {err}")
    assert wheel.name.startswith("iisfleet-") and wheel.suffix == ".whl"
    assert await ensure_wheel(tmp_path, source=source, version=version("iisfleet")) == wheel  # cached
    with pytest.raises(BootstrapError, match=f"put iisfleet-9.9-py3-none-any.whl into {tmp_path / 'empty'}"):
        await ensure_wheel(tmp_path / "empty", source=None, version="9.9")
