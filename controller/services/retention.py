"""Retention: finished jobs (hash, results, events, step facts), artifacts, audit entries and retired
certificate serials older than CONTROLLER_RETENTION (30 days) are removed by a sweep of the API process.

Jobs still queued or running are kept whatever their age, and so are the artifacts they deploy. An artifact
goes with everything derived from it (its content tree and manifest); a blob (services/blobs.py) goes once it
is older than the retention and no remaining artifact's manifest lists it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path

from controller.services.artifacts import SHA256
from controller.services.job_models import FINISHED
from controller.settings import ControllerSettings
from controller.store import FleetStore

log = logging.getLogger("iisfleet.controller.retention")
SWEEP_EVERY = 3600.0


async def sweep(store: FleetStore, settings: ControllerSettings, now: float | None = None) -> int:
    """One round; returns how many jobs were removed."""
    cutoff = (now or time.time()) - settings.retention
    removed = 0
    while True:
        old = await store.jobs_before(cutoff)
        gone = 0
        for job_id in old:
            job = await store.job(job_id)
            if job and job.get("status") not in FINISHED:
                continue
            await store.delete_job(job_id, json.loads(job.get("agents") or "[]") if job else [])
            gone += 1
        removed += gone
        if gone == 0:
            break
    await store.trim_before(cutoff)
    needed = {json.loads((await store.job(j)).get("params") or "{}").get("artifact") for j in await store.active_jobs()}
    await asyncio.to_thread(_sweep_artifacts, settings.artifact_dir, cutoff, needed)
    return removed


def _sweep_artifacts(directory: Path, cutoff: float, keep: set[object]) -> None:
    for summary in directory.glob("??/*.json"):
        sha256 = summary.stem
        if not SHA256.match(sha256):
            continue  # <sha>.manifest.json: removed with its artifact below
        try:
            if summary.stat().st_mtime >= cutoff or sha256 in keep:
                continue
            (summary.parent / sha256).unlink(missing_ok=True)
            summary.with_name(f"{sha256}.manifest.json").unlink(missing_ok=True)
            shutil.rmtree(summary.with_name(f"{sha256}.tree"), ignore_errors=True)
            summary.unlink(missing_ok=True)
            log.info("artifact %s passed the retention and was removed", sha256)
        except OSError:
            log.warning("could not remove artifact %s", sha256, exc_info=True)
    _sweep_blobs(directory, cutoff)


def _sweep_blobs(directory: Path, cutoff: float) -> None:
    referenced: set[str] = set()
    for manifest in directory.glob("??/*.manifest.json"):
        try:
            referenced.update(str(item["sha256"]) for item in json.loads(manifest.read_bytes())["files"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("could not read %s; its blobs may be swept", manifest)
    for blob in (directory / "blobs").glob("??/*"):
        try:
            if blob.name in referenced or blob.stat().st_mtime >= cutoff:
                continue
            blob.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove blob %s", blob.name, exc_info=True)
