"""The artifact store: deploy archives uploaded once, checked, and kept content-addressed by sha256.

Layout under `<state dir>/artifacts/`: `<sha[:2]>/<sha>` (the archive) and `<sha[:2]>/<sha>.json` (its
summary), plus `tmp/` for uploads in progress. Workers read the same directory, so they run where it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from controller.services.archives import inspect_archive
from controller.services.errors import InvalidRequest, TooLarge, UnknownAgent
from controller.settings import ControllerSettings
from shared.fsutil import atomic_write_text

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def artifact_path(settings: ControllerSettings, sha256: str) -> Path:
    """Where the archive with this digest lives."""
    if not SHA256.match(sha256):
        raise InvalidRequest(f"{sha256!r} is not a sha256 digest (64 lowercase hex digits)", name="artifact")
    return settings.artifact_dir / sha256[:2] / sha256


def artifact_info(settings: ControllerSettings, sha256: str) -> dict[str, Any]:
    """The stored summary of an artifact; UnknownAgent-style 404 when missing."""
    path = artifact_path(settings, sha256)
    try:
        return dict(json.loads(path.with_suffix(".json").read_text(encoding="utf-8")))
    except FileNotFoundError as err:
        raise UnknownAgent(f"no artifact has sha256 {sha256}; upload it with POST /api/artifacts") from err


def require_artifact(settings: ControllerSettings, sha256: str) -> None:
    """InvalidRequest (for a job's params) when the artifact is not stored."""
    if not artifact_path(settings, sha256).with_suffix(".json").exists():
        raise InvalidRequest(f"no artifact has sha256 {sha256}; upload it first", name="params.artifact")


async def store_upload(
    settings: ControllerSettings, chunks: AsyncIterator[bytes], name: str, expected: str | None = None
) -> dict[str, Any]:
    """Stream an upload to disk while hashing it, check the archive, and file it under its sha256."""
    tmp_dir = settings.artifact_dir / "tmp"
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    handle = await asyncio.to_thread(open, tmp, "wb")
    try:
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > settings.artifact_max_bytes:
                    raise TooLarge(f"artifacts are limited to {settings.artifact_max_bytes} bytes")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        sha = digest.hexdigest()
        if expected and expected.lower() != sha:
            raise InvalidRequest(f"the upload's sha256 is {sha}, not {expected}", name="sha256")
        if size == 0:
            raise InvalidRequest("the upload is empty", name="body")
        summary = await asyncio.to_thread(inspect_archive, tmp, settings.artifact_max_unpacked)
        info = {"sha256": sha, "size": size, "name": name, "uploaded_on": time.time(), **asdict(summary)}
        final = artifact_path(settings, sha)
        await asyncio.to_thread(_file_away, tmp, final, info)
        return info
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _file_away(tmp: Path, final: Path, info: dict[str, Any]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)  # same content, same name: a second upload of it changes nothing
    atomic_write_text(final.with_suffix(".json"), json.dumps(info))
