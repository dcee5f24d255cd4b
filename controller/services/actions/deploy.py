"""files.deploy and files.rollback: versioned content folders next to the site's, switched by one PATCH.

Layout on each agent: `<content parent>/<site>.versions/<UTC time of the job>-<sha12>/`. The archive is
uploaded (resumable chunks) to a hidden staging file in that folder and unpacked by the agent's
archive-extract extension into a temp folder renamed into place, so a version folder exists only complete.
The site's (or application's) `physical_path` then moves to it with one PATCH (an atomic config write).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from controller.services.actions.base import StepContext
from controller.services.actions.deploy_build import build_version
from controller.services.actions.iis import (
    FILES,
    SITES,
    WEBAPPS,
    ensure_dir,
    file_by_path,
    find_app,
    pathmod,
    require_site,
)
from controller.services.actions.verify import verify_site
from controller.services.agent_client import PermanentError
from controller.services.artifacts import artifact_path, require_artifact
from controller.services.job_models import Strict
from controller.services.manifests import is_manifest
from controller.settings import ControllerSettings
from shared.asyncio_utils import create_task

CHUNK = 8 * 1024 * 1024
IN_FLIGHT = 2
"""Chunk PUTs on the wire at once per upload: hides the per-request round trip, holds at most 3 chunks in memory."""
EXTRACT = FILES + "/archive-extract"


class DeployParams(Strict):
    """Deploy an uploaded artifact to a site (or one of its applications), keeping `keep` older versions."""

    site: str = Field(min_length=1)
    artifact: str = Field(pattern=r"^[0-9a-f]{64}$")
    app_path: str = Field(default="/", pattern=r"^/")
    keep: int = Field(default=3, ge=0, le=100)


class RollbackParams(Strict):
    """Go back to the version before the current one, or to a named version."""

    site: str = Field(min_length=1)
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")
    app_path: str = Field(default="/", pattern=r"^/")


def check_deploy(params: DeployParams, settings: ControllerSettings) -> None:
    """The artifact must be stored before the job is accepted."""
    require_artifact(settings, params.artifact)


async def _target(ctx: StepContext, site_name: str, app_path: str) -> tuple[dict[str, Any], str, str]:
    """(site model, PATCH path of what switches, its current physical path)."""
    site = await require_site(ctx.client, site_name)
    if app_path.rstrip("/") == "":
        return site, f"{SITES}/{site['id']}", str(site.get("physical_path") or "")
    app = await find_app(ctx.client, site, app_path)
    return site, f"{WEBAPPS}/{app['id']}", str(app.get("physical_path") or "")


def versions_dir(current: str, label: str) -> str:
    """The versions folder: the current one's parent when already on a version, else `<parent>/<label>.versions`."""
    paths = pathmod(current)
    parent = paths.dirname(current.rstrip("\\/"))
    if str(paths.basename(parent)).endswith(".versions"):
        return str(parent)
    return str(paths.join(parent, f"{label}.versions"))


async def _upload(ctx: StepContext, file_id: str, source: Path) -> None:
    size = (await asyncio.to_thread(source.stat)).st_size
    url = f"{FILES}/content/{file_id}"
    if size <= CHUNK:
        await ctx.client.call("PUT", url, data=await asyncio.to_thread(source.read_bytes))
        return
    # Ask which spans the agent still misses (a redelivered task resumes a cut-off upload).
    status, body = await ctx.client.call("PUT", url, headers={"Content-Range": f"bytes */{size}"}, allow=(404,))
    spans = [(s["first"], s["last"]) for s in body["missing"]] if status == 202 else [(0, size - 1)]
    pieces = [(start, min(last, start + CHUNK - 1)) for first, last in spans for start in range(first, last + 1, CHUNK)]
    # The next chunk is on the wire while the agent acknowledges the previous one (chunks may run
    # concurrently; the agent completes the file when its last writer ends with nothing missing).
    sending: set[asyncio.Task[tuple[int, Any]]] = set()
    fd = await asyncio.to_thread(os.open, source, os.O_RDONLY)
    try:
        for start, end in pieces:
            data = await asyncio.to_thread(os.pread, fd, end - start + 1, start)
            sending = await _drain(sending, IN_FLIGHT - 1)
            headers = {"Content-Range": f"bytes {start}-{end}/{size}"}
            sending.add(create_task(ctx.client.call("PUT", url, data=data, headers=headers), name=f"chunk {start}"))
        sending = await _drain(sending, 0)
    finally:
        for task in sending:
            task.cancel()
        if sending:
            await asyncio.wait(sending)
        os.close(fd)


async def _drain(sending: set[asyncio.Task[tuple[int, Any]]], keep: int) -> set[asyncio.Task[tuple[int, Any]]]:
    """Wait until at most `keep` chunk PUTs are in flight; a failed one fails the step (a redelivery resumes)."""
    while len(sending) > keep:
        done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    return sending


async def _unpack(ctx: StepContext, folder: dict[str, Any], version: str, sha256: str) -> None:
    source = artifact_path(ctx.settings, sha256)
    staged_name = f".iisfleet-artifact-{sha256[:16]}"
    status, staged = await ctx.client.call(
        "POST", FILES, body={"parent": {"id": folder["id"]}, "name": staged_name, "type": "file"}, allow=(409,)
    )
    if status == 409:
        where = str(folder["physical_path"])
        staged = await file_by_path(ctx.client, pathmod(where).join(where, staged_name))
        if staged is None:
            raise PermanentError(f"{ctx.client.name} refused to create the staging file")
    await _upload(ctx, staged["id"], source)
    body = {"archive": {"id": staged["id"]}, "parent": {"id": folder["id"]}, "name": version, "sha256": sha256}
    status, answer = await ctx.client.call("POST", EXTRACT, body=body, allow=(404, 409))
    if status == 404 and isinstance(answer, dict) and answer.get("title") == "Not found" and not answer.get("name"):
        raise PermanentError(f"{ctx.client.name} lacks the archive-extract extension (see docs/compatibility.md)")
    if status == 404:
        raise PermanentError(f"{ctx.client.name}: archive-extract: {answer}")
    await ctx.client.call("DELETE", f"{FILES}/{staged['id']}")


async def _versions(ctx: StepContext, folder_path: str) -> list[dict[str, Any]]:
    folder = await file_by_path(ctx.client, folder_path)
    if folder is None:
        return []
    _status, body = await ctx.client.call("GET", f"{FILES}?parent.id={folder['id']}")
    items = [item for item in body.get("files", []) if item.get("type") == "directory"]
    return sorted(items, key=lambda item: str(item["name"]))


async def _prune(ctx: StepContext, folder_path: str, current: str, keep: int) -> list[str]:
    names = await _versions(ctx, folder_path)
    index = next((i for i, item in enumerate(names) if item["name"] == current), None)
    if index is None:
        return []
    doomed = names[: max(0, index - keep)]
    for item in doomed:
        await ctx.client.call("DELETE", f"{FILES}/{item['id']}")
    return [str(item["name"]) for item in doomed]


async def deploy(ctx: StepContext, params: DeployParams) -> dict[str, Any]:
    """Upload, unpack into a new version folder (skipped when it exists), switch, prune, verify."""
    site, patch_path, current = await _target(ctx, params.site, params.app_path)
    label = params.site if params.app_path == "/" else pathmod(current).basename(current.rstrip("\\/"))
    folder_path = ctx.facts.get("versions") or versions_dir(current, label)
    millis = int(ctx.created * 1000) % 1000
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ctx.created)) + f"{millis:03d}Z"
    version = ctx.facts.get("version") or f"{stamp}-{params.artifact[:12]}"
    if "version" not in ctx.facts:
        await ctx.remember(version=version, versions=folder_path, previous=current)
    target = pathmod(folder_path).join(folder_path, version)
    unpacked = False
    transfer: dict[str, int] = {}
    if current != target:
        if await file_by_path(ctx.client, target) is None:
            await ctx.guard()
            folder = await ensure_dir(ctx.client, folder_path)
            built = await build_version(ctx, folder, version, params.artifact, current)
            if built is None:
                if await asyncio.to_thread(is_manifest, ctx.settings, params.artifact):
                    raise PermanentError(f"{ctx.client.name} lacks the version-builds extension, which a manifest "
                                         "artifact needs (deploy an archive: iisfleet deploy --full)")
                await _unpack(ctx, folder, version, params.artifact)
            transfer = built or {}
            unpacked = True
        await ctx.guard()
        await ctx.client.call("PATCH", patch_path, body={"physical_path": target})
    pruned = await _prune(ctx, folder_path, version, params.keep)
    verified = await verify_site(ctx, site)
    return {"version": version, "physical_path": target, "previous": ctx.facts.get("previous"),
            "unpacked": unpacked, "pruned": pruned, **transfer, **verified}


async def rollback(ctx: StepContext, params: RollbackParams) -> dict[str, Any]:
    """Switch back to the previous (or a named) version folder; the choice is recorded, so it happens once."""
    site, patch_path, current = await _target(ctx, params.site, params.app_path)
    paths = pathmod(current)
    label = params.site if params.app_path == "/" else paths.basename(current.rstrip("\\/"))
    folder_path = ctx.facts.get("versions") or versions_dir(current, label)
    chosen = ctx.facts.get("target")
    if chosen is None:
        names = [str(item["name"]) for item in await _versions(ctx, folder_path)]
        now = paths.basename(current.rstrip("\\/"))
        if params.version is not None:
            if params.version not in names:
                raise PermanentError(f"{ctx.client.name} has no version {params.version!r} of {params.site!r}")
            chosen = params.version
        elif now in names and names.index(now) > 0:
            chosen = names[names.index(now) - 1]
        else:
            raise PermanentError(f"{params.site!r} on {ctx.client.name} has no version before {now!r} to go back to")
        await ctx.remember(target=chosen, versions=folder_path, previous=current)
    target = paths.join(folder_path, chosen)
    if current != target:
        await ctx.guard()
        await ctx.client.call("PATCH", patch_path, body={"physical_path": target})
    return {"version": chosen, "physical_path": target, "previous": ctx.facts.get("previous"),
            **await verify_site(ctx, site)}
