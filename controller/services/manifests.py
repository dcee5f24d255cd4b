"""Manifest artifacts: a deployable tree described by (path, size, mode, sha256) and built from stored blobs.

`iisfleet deploy DIR` sends the manifest first (POST /api/artifacts/manifests); the answer lists the digests
the blob store lacks. Once none is missing, the manifest becomes an artifact like an uploaded archive, named
by the sha256 of its canonical JSON: `<sha[:2]>/<sha>` holds that JSON, `<sha>.tree/` the files (hard links
to the blobs, built in a temp folder and renamed into place), `<sha>.manifest.json` what artifact_trees.py
reads, and `<sha>.json` the summary, written last (a job may use the artifact once it exists). Deploy jobs
then treat it as any artifact (actions/deploy_build.py); agents without the version-builds extension cannot
take one (they need an archive: `iisfleet deploy --full`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field

from controller.services.artifacts import artifact_path
from controller.services.blobs import blob_path, has_blob
from controller.services.errors import InvalidRequest, TooLarge
from controller.services.job_models import Strict
from controller.settings import ControllerSettings
from shared import archives
from shared.fsutil import atomic_write_text

KIND = "manifest"


class ManifestFile(Strict):
    """One file of the tree."""

    path: str = Field(min_length=1, max_length=4096)
    """Relative path with `/` separators."""
    size: int = Field(ge=0)
    mode: int = Field(default=0o644, ge=0, le=0o7777)
    """Permission bits; only the owner's execute bit is kept (0755 or 0644)."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ManifestRequest(Strict):
    """A tree to deploy: its files (content by sha256) and its folders (empty ones included)."""

    name: str = Field(default="tree", min_length=1, max_length=200)
    files: list[ManifestFile] = Field(max_length=archives.MAX_ENTRIES)
    directories: list[str] = Field(default_factory=list, max_length=archives.MAX_ENTRIES)


def _clean(path: str, member: str) -> str:
    problem = archives.entry_problem(path)
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if problem or not parts:
        raise InvalidRequest(f"{path!r} {problem or 'is not a relative path'}", name=member)
    return "/".join(parts)


def canonical(request: ManifestRequest, settings: ControllerSettings) -> dict[str, Any]:
    """The manifest as stored and sent to agents: safe paths, sorted, modes 0755/0644; refuses clashes."""
    files: dict[str, dict[str, Any]] = {}
    for item in request.files:
        path = _clean(item.path, "files")
        if path in files:
            raise InvalidRequest(f"{path!r} appears twice", name="files")
        files[path] = {"path": path, "size": item.size, "mode": 0o755 if item.mode & 0o100 else 0o644,
                       "sha256": item.sha256}
    if sum(int(f["size"]) for f in files.values()) > settings.artifact_max_unpacked:
        raise TooLarge(f"the tree adds up to more than {settings.artifact_max_unpacked} bytes")
    dirs = sorted({_clean(path, "directories") for path in request.directories})
    parents = {"/".join(p.split("/")[:cut]) for p in [*files, *dirs] for cut in range(1, p.count("/") + 1)}
    clash = (parents | set(dirs)) & set(files)
    if clash:
        raise InvalidRequest(f"{sorted(clash)[0]!r} is both a file and a directory", name="files")
    return {"files": [files[path] for path in sorted(files)], "directories": dirs}


def manifest_digest(manifest: dict[str, Any]) -> tuple[str, bytes]:
    """(sha256, canonical JSON bytes) of a canonical manifest."""
    data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest(), data


def missing_blobs(settings: ControllerSettings, manifest: dict[str, Any]) -> dict[str, int]:
    """Digest -> size of the contents the blob store lacks (present ones get their mtime refreshed)."""
    sizes = {str(item["sha256"]): int(item["size"]) for item in manifest["files"]}
    return {sha: size for sha, size in sizes.items() if not has_blob(settings, sha, size)}


def _build_tree(settings: ControllerSettings, manifest: dict[str, Any], tree: Path) -> None:
    temp = tree.with_name(f".{tree.name}-{uuid.uuid4().hex[:8]}")
    try:
        temp.mkdir(parents=True)
        for directory in manifest["directories"]:
            temp.joinpath(*directory.split("/")).mkdir(parents=True, exist_ok=True)
        for item in manifest["files"]:
            target = temp.joinpath(*item["path"].split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(blob_path(settings, item["sha256"]), target)
        try:
            os.rename(temp, tree)
        except OSError:
            if not tree.is_dir():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def register(settings: ControllerSettings, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """File a manifest whose blobs are all stored as an artifact; its summary (as GET /api/artifacts/{sha})."""
    sha, data = manifest_digest(manifest)
    archive = artifact_path(settings, sha)
    summary = archive.with_suffix(".json")
    if summary.exists():
        info = dict(json.loads(summary.read_text(encoding="utf-8")))
        os.utime(summary)  # used again: retention counts from now
        return info
    archive.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(archive, data.decode())
    _build_tree(settings, manifest, archive.with_name(f"{sha}.tree"))
    atomic_write_text(archive.with_name(f"{sha}.manifest.json"), data.decode())
    files = manifest["files"]
    info = {"sha256": sha, "size": len(data), "name": name, "uploaded_on": time.time(), "kind": KIND,
            "format": KIND, "files": len(files), "directories": len(manifest["directories"]),
            "unpacked_bytes": sum(int(item["size"]) for item in files)}
    atomic_write_text(summary, json.dumps(info))
    return info


async def submit(settings: ControllerSettings, request: ManifestRequest) -> tuple[int, dict[str, Any]]:
    """(201, the artifact) when every blob is stored, else (200, what is missing)."""
    manifest = canonical(request, settings)
    sha, _data = manifest_digest(manifest)
    missing = await asyncio.to_thread(missing_blobs, settings, manifest)
    if missing:
        return 200, {"sha256": sha, "missing": sorted(missing), "missing_bytes": sum(missing.values()),
                     "artifact": None}
    info = await asyncio.to_thread(register, settings, request.name, manifest)
    return 201, {"sha256": sha, "missing": [], "missing_bytes": 0, "artifact": info}


def is_manifest(settings: ControllerSettings, sha256: str) -> bool:
    """True when the artifact was built from a manifest (it has no archive to unpack)."""
    try:
        info = json.loads(artifact_path(settings, sha256).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("kind") == KIND
