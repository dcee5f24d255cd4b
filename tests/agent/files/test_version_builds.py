"""The version-builds extension: plan with a manifest, link from a base, stream the rest, refuse bad input."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

from tests.agent.files.conftest import FilesEnv

BUILDS = "/api/files/version-builds"


def _manifest(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"files": [{"path": p, "size": len(d), "mode": 0o644, "sha256": hashlib.sha256(d).hexdigest()}
                      for p, d in files.items()], "directories": list(dirs)}


def _tar(files: dict[str, bytes], kind: bytes = tarfile.REGTYPE) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w|") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.type = (len(data) if kind == tarfile.REGTYPE else 0), kind
            if kind != tarfile.REGTYPE:
                info.linkname = "/etc/passwd"
            archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


async def _build(env: FilesEnv, parent: Path, name: str, files: dict[str, bytes], base: Path | None = None,
                 send: dict[str, bytes] | None = None, status: int = 201) -> tuple[dict[str, Any], Any]:
    body = {"parent": {"id": env.id(parent)}, "name": name, "manifest": _manifest(files),
            "base": {"id": env.id(base)} if base else None}
    plan = await env.json("POST", BUILDS, 201, json=body)
    wanted = {p: files[p] for p in plan["missing"]} if send is None else send

    async def chunks() -> Any:  # a streamed body, as the controller sends it
        data = _tar(wanted)
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    done = await env.json("PUT", f"{BUILDS}/{plan['id']}", status, data=chunks(),
                          headers={"Content-Type": "application/x-tar"})
    return plan, done


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777) for p in sorted(root.rglob("*"))
            if p.is_file()}


async def test_full_then_incremental_build_links_unchanged_files(env: FilesEnv) -> None:
    parent = env.rw / "shop.versions"
    parent.mkdir()
    first = {"index.html": b"one", "css/site.css": b"body{}", "big.bin": os.urandom(5 * 1024 * 1024)}
    plan, done = await _build(env, parent, "v1", first)
    assert sorted(plan["missing"]) == sorted(first) and plan["linked"] == 0
    assert done["name"] == "v1" and _tree(parent / "v1") == {k: (v, 0o644) for k, v in first.items()}

    second = {**first, "index.html": b"two", "new/file.txt": b"new"}
    plan, _done = await _build(env, parent, "v2", second, base=parent / "v1")
    assert sorted(plan["missing"]) == ["index.html", "new/file.txt"]
    assert plan["linked"] == 2 and plan["linked_bytes"] == len(first["big.bin"]) + len(first["css/site.css"])
    assert (parent / "v2" / "big.bin").stat().st_ino == (parent / "v1" / "big.bin").stat().st_ino
    assert (parent / "v1" / "index.html").read_bytes() == b"one"  # the base is untouched
    assert _tree(parent / "v2") == {k: (v, 0o644) for k, v in second.items()}
    assert sorted(p.name for p in parent.iterdir()) == ["v1", "v2"]  # no staging or record left beside them

    # A base file changed in place after its build is hashed again, not trusted from the record.
    (parent / "v2" / "new" / "file.txt").write_bytes(b"tampered")
    plan, _done = await _build(env, parent, "v3", second, base=parent / "v2")
    assert "new/file.txt" in plan["missing"] and (parent / "v3" / "new" / "file.txt").read_bytes() == b"new"


async def test_bad_manifests_streams_and_places_are_refused(env: FilesEnv) -> None:
    parent = env.rw / "site.versions"
    parent.mkdir()
    for bad in ("../escape", "/abs", "a/../../b", "nul\x00"):
        body = {"parent": {"id": env.id(parent)}, "name": "v1", "manifest": _manifest({bad: b"x"})}
        problem = await env.json("POST", BUILDS, 400, json=body)
        assert problem["name"] == "manifest", problem
    body = {"parent": {"id": env.id(parent)}, "name": "v1", "manifest": _manifest({"a": b"x", "a/b": b"y"})}
    assert (await env.json("POST", BUILDS, 400, json=body))["name"] == "manifest"
    # The base must be a sibling; the parent must be writable.
    (env.rw / "elsewhere").mkdir()
    body = {"parent": {"id": env.id(parent)}, "name": "v1", "manifest": _manifest({"a": b"x"}),
            "base": {"id": env.id(env.rw / "elsewhere")}}
    assert (await env.json("POST", BUILDS, 400, json=body))["name"] == "base"
    body = {"parent": {"id": env.id(env.ro)}, "name": "v1", "manifest": _manifest({"a": b"x"})}
    await env.json("POST", BUILDS, 403, json=body)
    # A stream with a file the manifest lacks, a wrong digest, or a link is refused and nothing is left.
    for send in ({"other": b"x"}, {"a": b"y"}):
        _plan, problem = await _build(env, parent, "v1", {"a": b"x"}, send=send, status=400)
        assert problem["name"] == "archive" and not (parent / "v1").exists()
    plan = await env.json("POST", BUILDS, 201, json={"parent": {"id": env.id(parent)}, "name": "v1",
                                                      "manifest": _manifest({"a": b"x"})})
    problem = await env.json("PUT", f"{BUILDS}/{plan['id']}", 400, data=_tar({"a": b""}, tarfile.SYMTYPE))
    assert problem["name"] == "archive" and os.listdir(parent) == []
    await env.json("PUT", f"{BUILDS}/{env.id(parent / 'nothing')}", 404, data=b"")


async def test_archive_extract_still_serves_agents_fallback(env: FilesEnv) -> None:
    """archive-extract (the path for controllers without version builds) unpacks and checks the digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {"index.html": b"hi", "css/a.css": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (env.rw / "a.tar.gz").write_bytes(buffer.getvalue())
    body = {"archive": {"id": env.id(env.rw / "a.tar.gz")}, "parent": {"id": env.id(env.rw)}, "name": "v1",
            "sha256": "0" * 64}
    assert (await env.json("POST", "/api/files/archive-extract", 400, json=body))["name"] == "sha256"
    body["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    await env.json("POST", "/api/files/archive-extract", 201, json=body)
    assert _tree(env.rw / "v1") == {"index.html": (b"hi", 0o644), "css/a.css": (b"x", 0o644)}


async def test_a_version_is_durable_before_it_appears(env: FilesEnv, monkeypatch: Any) -> None:
    """Every received file and every folder is fsynced while the version is still the hidden staging folder;
    the versions folder is fsynced after the rename, before the 201."""
    from agent.files import durability

    parent = env.rw / "durable.versions"
    parent.mkdir()
    target = parent / "v1"
    synced: list[tuple[str, bool]] = []  # (path, did the version exist then)
    real_file, real_dir = durability._fsync_file, durability.fsync_dir

    def fsync_file(path: str) -> None:
        synced.append((os.path.realpath(path), target.exists()))
        real_file(path)

    def fsync_dir(path: Path) -> None:
        synced.append((os.path.realpath(path), target.exists()))
        real_dir(path)

    monkeypatch.setattr(durability, "_fsync_file", fsync_file)
    monkeypatch.setattr(durability, "fsync_dir", fsync_dir)
    files = {"index.html": b"one", "a/b/deep.txt": b"deep", "a/c.txt": b"c"}
    await _build(env, parent, "v1", files)
    real_parent = str(parent.resolve())
    staging = os.path.join(real_parent, ".iisfleet-build-v1")
    before = {path for path, existed in synced if not existed}
    assert {os.path.join(staging, *name.split("/")) for name in files} <= before, synced
    assert {staging, os.path.join(staging, "a"), os.path.join(staging, "a", "b")} <= before, synced
    assert (real_parent, True) in synced, synced  # the rename, made durable after it happened
    assert _tree(target) == {k: (v, 0o644) for k, v in files.items()}
