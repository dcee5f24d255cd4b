"""/api/files/locations: edits land in appsettings.json and apply to the files API at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agent.files.conftest import HAL, FilesEnv


async def test_create_edit_delete_location(env: FilesEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IISFLEET_TEST_TEMP", str(tmp_path))
    new_dir, other_dir = tmp_path / "newloc", tmp_path / "otherloc"
    created = await env.json("POST", "/api/files/locations", 201,
                             json={"path": "%IISFLEET_TEST_TEMP%/newloc", "claims": ["Read", "write"]})
    assert created["alias"] == "" and created["path"] == "%IISFLEET_TEST_TEMP%/newloc"
    assert created["claims"] == ["read", "write"] and new_dir.is_dir()
    assert created["id"] == env.id(new_dir)
    assert created["_links"]["directory"]["href"] == f"/api/files/{env.id(new_dir)}"
    roots = await env.json("GET", "/api/files", 200)
    assert "newloc" in [f["name"] for f in roots["files"]]
    # Takes effect at once: the new root is writable without a restart.
    await env.json("POST", "/api/files", 201, json={"parent": {"id": created["id"]}, "name": "f", "type": "file"})
    saved = json.loads((env.state / "appsettings.json").read_text())
    assert saved["host_name"] == "files-tests" and saved["cors"]["rules"][0]["origin"] == "https://manage.iis.net"
    assert saved["files"]["locations"][-1] == {"alias": "", "path": "%IISFLEET_TEST_TEMP%/newloc",
                                               "claims": ["read", "write"]}
    await env.json("POST", "/api/files/locations", 409, json={"path": "%IISFLEET_TEST_TEMP%/NEWLOC", "claims": []})
    await env.json("POST", "/api/files/locations", 409, json={"path": "/x/y", "alias": "RW", "claims": []})
    await env.json("POST", "/api/files/locations", 400, json={"path": "/x/y"})
    await env.json("POST", "/api/files/locations", 400, json={"path": "/x/y", "claims": "read"})
    await env.json("POST", "/api/files/locations", 400, json={"path": "/x/y", "claims": ["execute"]})
    await env.json("POST", "/api/files/locations", 400, json={"path": "/x/y", "claims": [], "alias": "a/b"})
    await env.json("POST", "/api/files/locations", 400, json={"path": "", "claims": []})

    async with env.client.patch(f"/api/files/locations/{created['id']}", headers=HAL, json={
        "alias": "Other", "path": str(other_dir), "claims": ["read"]}) as resp:
        assert resp.status == 209
        patched = await resp.json(content_type=None)
        assert resp.headers["Location"] == f"/api/files/locations/{patched['id']}"
    assert patched["alias"] == "Other" and patched["claims"] == ["read"] and other_dir.is_dir()
    body = await env.json("POST", "/api/files", 403, json={"parent": {"id": patched["id"]}, "name": "g",
                                                           "type": "file"})
    assert body["detail"] == "Read-Only"
    await env.json("GET", f"/api/files/{env.id(new_dir)}", 403)  # the old root lost its claims at once

    listed = await env.json("GET", "/api/files/locations", 200)
    lengths = [len(loc["path"]) for loc in listed["locations"]]
    assert len(lengths) == 3 and "Other" in [loc["alias"] for loc in listed["locations"]]
    await env.json("GET", f"/api/files/locations/{patched['id']}", 200)
    await env.json("DELETE", f"/api/files/locations/{patched['id']}", 204)
    await env.json("DELETE", f"/api/files/locations/{patched['id']}", 204)
    await env.json("GET", f"/api/files/locations/{patched['id']}", 404)
    listed = await env.json("GET", "/api/files/locations", 200)
    assert sorted(loc["alias"] for loc in listed["locations"]) == ["ro", "rw"]
    await env.json("GET", f"/api/files/{patched['id']}", 403)
