"""Job and artifact routes over a real Redis (no worker: jobs stay queued unless cancelled)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from typing import Any

import aiohttp

from tests.controller.conftest import ControllerUnderTest


def _tar(entries: dict[str, bytes], *, link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return buffer.getvalue()


async def _agents(controller: ControllerUnderTest, count: int) -> list[str]:
    ids = []
    for n in range(count):
        agent_id = f"a{n:015d}"
        await controller.store.put_agent(agent_id, {"name": f"web{n}", "url": f"https://127.0.0.{n + 2}:1",
                                                    "labels": json.dumps({"env": "test", "n": str(n)})})
        ids.append(agent_id)
    return ids


async def _call(controller: ControllerUnderTest, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=controller.auth()) as session:
        async with session.request(method, controller.url + path, ssl=controller.client_ssl(), **kw) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text


async def test_bad_job_requests_are_refused(controller: ControllerUnderTest) -> None:
    await _agents(controller, 2)
    cases = [
        ({"action": "nope", "target": {"labels": {}}}, "action"),
        ({"action": "pool.recycle", "target": {"labels": {"env": "none"}}, "params": {"name": "p"}}, "target"),
        ({"action": "pool.recycle", "target": {"agents": ["missing"]}, "params": {"name": "p"}}, "target.agents"),
        ({"action": "pool.recycle", "target": {"labels": {}}, "params": {}}, "params.name"),
        ({"action": "files.deploy", "target": {"labels": {}}, "params": {"site": "s", "artifact": "a" * 64}},
         "params.artifact"),
        *(({"action": "pool.recycle", "target": {"labels": {}}, "params": {"name": "p"},
            "strategy": {"parallelism": bad}}, "strategy.parallelism") for bad in (0, -3, 1001, "many", 2.5)),
    ]
    for body, name in cases:
        status, answer = await _call(controller, "POST", "/api/jobs", json=body)
        assert status == 400 and answer["name"] == name, (body, answer)
    status, answer = await _call(controller, "POST", "/api/jobs",
                                 json={"action": "pool.recycle", "target": {"labels": {}, "agents": []}})
    assert status == 400, answer
    assert (await _call(controller, "GET", "/api/jobs"))[1]["total"] == 0


async def test_job_lifecycle_without_worker(controller: ControllerUnderTest) -> None:
    ids = await _agents(controller, 3)
    body = {"action": "pool.recycle", "target": {"labels": {"env": "test"}}, "params": {"name": "DefaultAppPool"},
            "strategy": {"batch_size": 2, "max_failures": 1, "parallelism": 7}}
    status, job = await _call(controller, "POST", "/api/jobs", json=body)
    assert status == 202 and job["status"] == "queued" and job["batches"] == 2, job
    assert job["strategy"]["parallelism"] == 7
    assert [r["agent"] for r in job["results"]] == ids
    status, same = await _call(controller, "GET", f"/api/jobs/{job['id']}")
    assert status == 200 and same["id"] == job["id"]

    for _ in range(3):
        await _call(controller, "POST", "/api/jobs", json=body)
    status, page = await _call(controller, "GET", "/api/jobs?per_page=3")
    assert page["total"] == 4 and len(page["jobs"]) == 3 and page["next_cursor"]
    status, rest = await _call(controller, "GET", f"/api/jobs?per_page=3&cursor={page['next_cursor']}")
    assert [j["id"] for j in rest["jobs"]] == [job["id"]]

    status, cancelled = await _call(controller, "POST", f"/api/jobs/{job['id']}/cancel")
    assert status == 202 and cancelled["status"] == "cancelled", cancelled
    assert {r["status"] for r in cancelled["results"]} == {"cancelled"}
    status, again = await _call(controller, "POST", f"/api/jobs/{job['id']}/cancel")
    assert status == 400

    status, events = await _call(controller, "GET", f"/api/jobs/{job['id']}/events")
    assert status == 200
    kinds = [line.split(": ", 1)[1] for line in events.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "job.created" and kinds[-1] == "job.finished", kinds

    status, rerun = await _call(controller, "POST", f"/api/jobs/{job['id']}/rerun")
    assert status == 202 and rerun["parent"] == job["id"] and len(rerun["results"]) == 3, rerun
    assert (await _call(controller, "GET", "/api/jobs/nope"))[0] == 404


async def test_artifacts_are_checked_and_content_addressed(controller: ControllerUnderTest) -> None:
    good = _tar({"index.html": b"hi", "css/a.css": b"b{}"})
    status, info = await _call(controller, "POST", "/api/artifacts?name=site.tar.gz", data=good)
    assert status == 201 and info["files"] == 2 and info["format"] == "tar", info
    stored = controller.settings.artifact_dir / info["sha256"][:2] / info["sha256"]
    assert stored.read_bytes() == good
    assert (await _call(controller, "GET", f"/api/artifacts/{info['sha256']}"))[1]["size"] == len(good)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("../escape.txt", "x")
    bad = {
        "escape": _tar({"../x": b"1"}),
        "absolute": _tar({"/x": b"1"}),
        "link": _tar({"a": b"1"}, link="l"),
        "zip escape": zipped.getvalue(),
        "corrupt": good[:-30],
        "junk": b"not an archive at all",
    }
    for label, data in bad.items():
        status, answer = await _call(controller, "POST", "/api/artifacts", data=data)
        assert status == 400 and answer["name"] == "archive", (label, answer)
    status, answer = await _call(controller, "POST", f"/api/artifacts?sha256={'0' * 64}", data=good)
    assert status == 400 and answer["name"] == "sha256"
    assert not list((controller.settings.artifact_dir / "tmp").iterdir())
