"""Incremental artifacts on a real controller: manifest, only missing blobs, content checks, roles, retention."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from controller.services.credentials import create_key
from controller.services.retention import _sweep_artifacts
from iisfleet.client.http import Controller
from iisfleet.client.tree_sync import scan, sync_tree
from tests.controller.conftest import ControllerUnderTest
from tests.controller.test_jobs_api import _call


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob_tar(blobs: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in blobs.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tree(root: Path) -> None:
    for n in range(6):
        path = root / f"d{n % 2}" / f"f{n}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(3000 + n))
    (root / "index.html").write_text("v1\n")
    (root / "empty").mkdir()


def _client(controller: ControllerUnderTest, tmp_path: Path) -> Controller:
    cafile = tmp_path / "ca.crt"
    cafile.write_bytes(controller.ca.cert_pem)
    return Controller(controller.url, controller.token, str(cafile))


async def test_second_deploy_of_a_tree_uploads_only_the_changed_blob(
    controller: ControllerUnderTest, tmp_path: Path, capsys: Any
) -> None:
    root = tmp_path / "site"
    _tree(root)
    client = _client(controller, tmp_path)
    first = await asyncio.to_thread(sync_tree, client, root, True)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["uploaded_files"] == 7 and first["files"] == 7 and first["kind"] == "manifest", (line, first)
    # The artifact's tree holds the files; the job side reads it like an unpacked archive.
    tree = controller.settings.artifact_dir / first["sha256"][:2] / f"{first['sha256']}.tree"
    assert (tree / "index.html").read_text() == "v1\n" and (tree / "empty").is_dir()

    (root / "d1" / "f3.bin").write_bytes(b"changed content")
    second = await asyncio.to_thread(sync_tree, client, root, False)  # the progress bar and a summary line
    out = capsys.readouterr().out
    assert f"7 files, 1 new contents ({len(b'changed content')} bytes) uploaded" in out, out
    assert second["sha256"] != first["sha256"]
    changed = _sha(b"changed content")
    assert (controller.settings.artifact_dir / "blobs" / changed[:2] / changed).exists()
    status, info = await _call(controller, "GET", f"/api/artifacts/{second['sha256']}")
    assert status == 200 and info["unpacked_bytes"] == sum(f["size"] for f in scan(root)[0]["files"])

    # Unchanged tree: nothing travels, the same artifact comes back.
    third = await asyncio.to_thread(sync_tree, client, root, True)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["uploaded_files"] == 0 and third["sha256"] == second["sha256"]

    # Each new deployable artifact is in the audit log, attributed to the key that made it.
    status, audited = await _call(controller, "GET", "/api/audit?limit=50")
    made = [e for e in audited["entries"] if e["action"] == "artifact.create"]
    assert status == 200 and {e["artifact"] for e in made} == {first["sha256"], second["sha256"]}, made
    assert all(e["operator"] == controller.token.split(".")[0] for e in made), made


async def test_blobs_are_checked_on_receipt(controller: ControllerUnderTest) -> None:
    data = b"hello blob"
    status, answer = await _call(controller, "PUT", f"/api/artifacts/blobs/{_sha(b'other')}", data=data)
    assert status == 400 and answer["name"] == "sha256", answer
    status, answer = await _call(controller, "PUT", "/api/artifacts/blobs/not-a-digest", data=data)
    assert status == 400, answer
    status, answer = await _call(controller, "PUT", f"/api/artifacts/blobs/{_sha(data)}", data=data)
    assert status == 201 and answer["size"] == len(data)
    good, bad = b"good", b"bad"
    status, answer = await _call(controller, "POST", "/api/artifacts/blobs",
                                 data=_blob_tar({_sha(good): good, _sha(b"x"): bad}))
    assert status == 400 and answer["name"] == "sha256", answer
    blobs = controller.settings.artifact_dir / "blobs"
    assert (blobs / _sha(good)[:2] / _sha(good)).read_bytes() == good  # the member before the bad one is kept
    assert not (blobs / _sha(b"x")[:2] / _sha(b"x")).exists()
    assert not [p for p in (controller.settings.artifact_dir / "tmp").iterdir()]
    manifest = {"files": [{"path": "../x", "size": 1, "mode": 420, "sha256": _sha(good)}]}
    status, answer = await _call(controller, "POST", "/api/artifacts/manifests", json=manifest)
    assert status == 400, answer
    manifest = {"files": [{"path": "a.txt", "size": len(good), "sha256": _sha(good)},
                          {"path": "b.txt", "size": 3, "sha256": _sha(b"new")}]}
    status, answer = await _call(controller, "POST", "/api/artifacts/manifests", json=manifest)
    assert status == 200 and answer["missing"] == [_sha(b"new")] and answer["artifact"] is None, answer
    status, job = await _call(controller, "POST", "/api/jobs", json={
        "action": "files.deploy", "target": {"labels": {"env": "none"}},
        "params": {"site": "s", "artifact": answer["sha256"]}})
    assert status == 400, job  # not an artifact until every blob is stored


async def test_a_viewer_cannot_upload_blobs_or_manifests(controller: ControllerUnderTest) -> None:
    token, _view = await create_key(controller.store, "viewer", "viewer")
    data = b"content"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for method, path, kw in (
            ("PUT", f"/api/artifacts/blobs/{_sha(data)}", {"data": data}),
            ("POST", "/api/artifacts/blobs", {"data": _blob_tar({_sha(data): data})}),
            ("POST", "/api/artifacts/manifests", {"json": {"files": []}}),
        ):
            async with session.request(method, controller.url + path, ssl=controller.client_ssl(), **kw) as answer:
                assert answer.status == 403, (method, path, await answer.text())
    assert not (controller.settings.artifact_dir / "blobs" / _sha(data)[:2] / _sha(data)).exists()


async def test_retention_sweeps_unreferenced_blobs_and_old_manifests(controller: ControllerUnderTest) -> None:
    kept, loose = b"kept", b"loose"
    for data in (kept, loose):
        assert (await _call(controller, "PUT", f"/api/artifacts/blobs/{_sha(data)}", data=data))[0] == 201
    manifest = {"files": [{"path": "a.txt", "size": len(kept), "sha256": _sha(kept)}]}
    status, answer = await _call(controller, "POST", "/api/artifacts/manifests", json=manifest)
    assert status == 201, answer
    directory = controller.settings.artifact_dir
    blob = directory / "blobs" / _sha(kept)[:2] / _sha(kept)
    later = time.time() + 10
    _sweep_artifacts(directory, later, set())  # the manifest is old too: everything goes
    assert not blob.exists() and not (directory / "blobs" / _sha(loose)[:2] / _sha(loose)).exists()
    sha = answer["sha256"]
    assert not list(directory.glob(f"??/{sha}*")), list(directory.glob(f"??/{sha}*"))


async def test_retention_keeps_blobs_of_a_kept_manifest(controller: ControllerUnderTest) -> None:
    kept = b"kept by an active job"
    assert (await _call(controller, "PUT", f"/api/artifacts/blobs/{_sha(kept)}", data=kept))[0] == 201
    manifest = {"files": [{"path": "a.txt", "size": len(kept), "sha256": _sha(kept)}]}
    status, answer = await _call(controller, "POST", "/api/artifacts/manifests", json=manifest)
    assert status == 201
    directory = controller.settings.artifact_dir
    _sweep_artifacts(directory, time.time() + 10, {answer["sha256"]})
    assert (directory / "blobs" / _sha(kept)[:2] / _sha(kept)).exists()
    assert (directory / answer["sha256"][:2] / f"{answer['sha256']}.tree" / "a.txt").read_bytes() == kept
