"""Fleet jobs end to end: real Redis, controller, Celery worker and three agents on 127.0.0.2-4.

Deploy and rollback, bad input refused with nothing changed, a rolling job stopping at max_failures, an agent
killed mid-job, and a worker killed mid-task (the task is redelivered without a duplicate side effect).
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet, site_get, tar_gz
from tests.e2e.test_controller_fleet import _local_redis, wait_for

pytestmark = pytest.mark.e2e
SITE, PORT = "shop", 8091
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
FAST_RETRY = {"retries": 1, "retry_delay": 0.2}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsFleet]:
    fleet = JobsFleet(tmp_path_factory.mktemp("jobs"), _local_redis(),
                      CONTROLLER_ARTIFACT_MAX_BYTES=str(16 * 1024 * 1024))
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(3)
        job = fleet.job({"action": "site.create", "target": {"labels": {"env": "e2e"}},
                         "params": {"name": SITE, "bindings": [{"port": PORT}]}})
        view = fleet.wait_job(job)
        assert view["status"] == "succeeded", view
        yield fleet
    finally:
        tear_down(fleet)


def _deploy(fleet: JobsFleet, text: str, **strategy: Any) -> dict[str, Any]:
    status, artifact = fleet.upload(tar_gz({"index.html": text.encode(), "css/site.css": b"body{}"}))
    assert status == 201, artifact
    job = fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                     "params": {"site": SITE, "artifact": artifact["sha256"], "keep": 1},
                     "strategy": {"health_check": {"path": "/index.html", "contains": text}, **strategy}})
    return fleet.wait_job(job)


def _served() -> set[str]:
    return {site_get(address, PORT, "/index.html")[1] for address in ADDRESSES}


def _versions(fleet: JobsFleet, agent: str) -> list[str]:
    folder = fleet.tmp / agent / "inetpub" / "sites" / f"{SITE}.versions"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_deploy_then_rollback(fleet: JobsFleet) -> None:
    first = _deploy(fleet, "release one")
    assert first["status"] == "succeeded", first
    assert _served() == {"release one"}
    second = _deploy(fleet, "release two")
    assert second["status"] == "succeeded", second
    assert _served() == {"release two"}
    versions = {name: _versions(fleet, name) for name in ("agent1", "agent2", "agent3")}
    assert all(len(v) == 2 for v in versions.values()), versions

    # The embedded host applies a new physical path within moments; the health check waits for it.
    job = fleet.job({"action": "files.rollback", "target": {"labels": {"env": "e2e"}}, "params": {"site": SITE},
                     "strategy": {"health_check": {"path": "/index.html", "contains": "release one"}}})
    view = fleet.wait_job(job)
    assert view["status"] == "succeeded", view
    assert _served() == {"release one"}
    assert fleet.by_name(view)["agent1"]["output"]["version"] == versions["agent1"][0]
    # keep=1: a third deploy prunes the oldest folder and keeps one previous version.
    third = _deploy(fleet, "release three")
    assert third["status"] == "succeeded", third
    assert _served() == {"release three"}
    assert all(len(_versions(fleet, n)) <= 3 for n in ("agent1", "agent2", "agent3"))


def _tar(entries: list[tarfile.TarInfo], data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_bad_input_is_refused_and_nothing_changes(fleet: JobsFleet) -> None:
    before_served, before_jobs = _served(), fleet.call("GET", "/api/jobs")[1]["total"]
    status, body = fleet.call("POST", "/api/jobs", body={"action": "site.explode", "target": {"labels": {}}})
    assert status == 400 and body["name"] == "action" and "unknown action" in body["detail"], body
    status, body = fleet.call("POST", "/api/jobs", body={"action": "pool.recycle",
                                                         "target": {"labels": {"env": "nowhere"}},
                                                         "params": {"name": SITE}})
    assert status == 400 and body["name"] == "target" and "matches no agent" in body["detail"], body
    status, body = fleet.call("POST", "/api/jobs", body={"action": "files.deploy", "target": {"labels": {}},
                                                         "params": {"site": SITE, "artifact": "0" * 64}})
    assert status == 400 and body["name"] == "params.artifact", body
    status, body = fleet.call("POST", "/api/jobs", body={"action": "site.create", "target": {"labels": {}},
                                                         "params": {"nme": "typo"}})
    assert status == 400 and body["name"].startswith("params."), body

    bad = {
        "escape": _tar([_entry("../evil.html")]),
        "absolute": _tar([_entry("/etc/evil.html")]),
        "symlink": _tar([_entry("link", tarfile.SYMTYPE, "/etc/passwd")]),
        "hardlink": _tar([_entry("a"), _entry("b", tarfile.LNKTYPE, "a")]),
        "device": _tar([_entry("dev", tarfile.CHRTYPE)]),
        "corrupt": tar_gz({"index.html": b"y" * 5000})[:-40],
        "not an archive": b"hello, I am not an archive",
        "bomb": tar_gz({"zeros.bin": bytes(80 * 1024 * 1024)}),
    }
    for label, data in bad.items():
        status, body = fleet.upload(data)
        assert status == 400, (label, body)
        assert body["name"] == "archive" and body["detail"], (label, body)
    status, body = fleet.upload(os.urandom(17 * 1024 * 1024))
    assert status == 413 and body["title"] == "Request too large", body

    # The agent-side extension refuses the same archives on its own (defence in depth), changing nothing.
    agent_id = fleet.agents()["agent1"]["id"]
    gateway = f"/api/agents/{agent_id}/iis"
    status, roots = fleet.call("GET", f"{gateway}/api/files")
    root = roots["files"][0]
    status, staged = fleet.call("POST", f"{gateway}/api/files",
                                body={"parent": {"id": root["id"]}, "name": "evil.tar.gz", "type": "file"})
    assert status == 201, staged
    import urllib.request

    put = urllib.request.Request(f"{fleet.url}{gateway}/api/files/content/{staged['id']}", method="PUT",
                                 data=bad["escape"], headers={"Authorization": f"Bearer {fleet.token}"})
    with urllib.request.urlopen(put, context=fleet.ssl(), timeout=10) as response:
        assert response.status == 200
    status, body = fleet.call("POST", f"{gateway}/api/files/archive-extract",
                              body={"archive": {"id": staged["id"]}, "parent": {"id": root["id"]}, "name": "evil"})
    assert status == 400 and body["name"] == "archive" and "escapes" in body["detail"], body
    assert not (Path(root["physical_path"]) / "evil").exists()
    assert not (Path(root["physical_path"]).parent / "evil.html").exists()
    fleet.call("DELETE", f"{gateway}/api/files/{staged['id']}")

    assert _served() == before_served
    assert fleet.call("GET", "/api/jobs")[1]["total"] == before_jobs


def _recycle(fleet: JobsFleet, agents: list[str], **strategy: Any) -> str:
    ids = fleet.agents()
    return fleet.job({"action": "pool.recycle", "target": {"agents": [ids[name]["id"] for name in agents]},
                      "params": {"name": SITE}, "strategy": {**FAST_RETRY, **strategy}})


def _restart(fleet: JobsFleet, name: str) -> None:
    fleet.start_agent(name)
    address, port = fleet.agent_ports[name]

    def listening() -> bool:
        with socket.create_connection((address, port), timeout=0.5):
            return True

    wait_for(f"{name} listening", listening, timeout=30)


def test_rolling_job_stops_at_max_failures_then_rerun_fixes_it(fleet: JobsFleet) -> None:
    fleet.kill("agent1")
    view = fleet.wait_job(_recycle(fleet, ["agent1", "agent2", "agent3"], batch_size=1, max_failures=1))
    results = fleet.by_name(view)
    assert view["status"] == "failed" and "max_failures" in view["error"], view
    assert results["agent1"]["status"] == "failed" and results["agent1"]["attempts"] == 2, results
    for name in ("agent2", "agent3"):
        assert results[name]["status"] == "skipped" and results[name]["attempts"] == 0, results
        assert "started_on" not in results[name]

    _restart(fleet, "agent1")
    status, rerun = fleet.call("POST", f"/api/jobs/{view['id']}/rerun")
    assert status == 202 and rerun["parent"] == view["id"], rerun
    assert {r["name"] for r in rerun["results"]} == {"agent1", "agent2", "agent3"}
    again = fleet.wait_job(rerun["id"])
    assert again["status"] == "succeeded", [(r["name"], r["status"], r.get("detail")) for r in again["results"]]


def test_agent_killed_mid_job_fails_only_its_own_step(fleet: JobsFleet) -> None:
    job = _recycle(fleet, ["agent1", "agent2", "agent3"], batch_size=1)
    # Killed as soon as the job is accepted: agent3's step comes third, after two batches of one. Waiting for
    # agent1's step first raced with fast recycles, which could finish all three before the kill.
    fleet.kill("agent3")
    view = fleet.wait_job(job)
    results = fleet.by_name(view)
    assert view["status"] == "failed", view
    assert results["agent1"]["status"] == results["agent2"]["status"] == "succeeded", results
    assert results["agent3"]["status"] == "failed" and results["agent3"]["attempts"] == 2, results
    assert "unreachable" in results["agent3"]["detail"]
    _restart(fleet, "agent3")


def test_worker_killed_mid_task_is_redelivered_without_duplicates(fleet: JobsFleet) -> None:
    payload = {"index.html": b"big release", "blob.bin": os.urandom(12 * 1024 * 1024)}
    status, artifact = fleet.upload(tar_gz(payload))
    assert status == 201, artifact
    before = {name: _versions(fleet, name) for name in ("agent1", "agent2", "agent3")}
    job = fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                     "params": {"site": SITE, "artifact": artifact["sha256"], "keep": 5},
                     "strategy": {"batch_size": 1, "health_check": {"path": "/index.html", "contains": "big"}}})

    def step_running() -> bool:
        results = fleet.call("GET", f"/api/jobs/{job}")[1]["results"]
        return any(r["status"] == "running" for r in results)

    wait_for("a running step", step_running, timeout=20, interval=0.02)
    worker = next(label for label in fleet.procs if label.startswith("worker"))
    killed_at = time.monotonic()
    fleet.kill(worker)
    fleet.start_worker()
    view = fleet.wait_job(job, timeout=60)
    assert view["status"] == "succeeded", view
    assert time.monotonic() - killed_at > 5  # it waited for the visibility timeout, i.e. a redelivery
    assert _served() == {"big release"}
    for name in ("agent1", "agent2", "agent3"):
        added = set(_versions(fleet, name)) - set(before[name])
        assert len(added) == 1, (name, added)  # one version folder: the redelivered step did not unpack twice
        hidden = [p.name for p in (fleet.tmp / name / "inetpub" / "sites" / f"{SITE}.versions").iterdir()
                  if p.name.startswith(".iisfleet-extract")]
        assert not hidden, hidden
    status, events = fleet.call("GET", f"/api/jobs/{job}/events?follow=0")
    assert status == 200 and "job.finished" in events
    # The killed worker's step was started again by the new worker (a redelivery, not a retry).
    starts = [line for line in events.splitlines() if line == "event: step.started"]
    print("step.started events:", len(starts))
    assert len(starts) > 3, events
