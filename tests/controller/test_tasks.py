"""The Celery tasks on a memory:// broker with a real worker thread (never task_always_eager)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from celery.contrib.testing.worker import start_worker

from controller.app import open_redis
from controller.services import jobs
from controller.services.job_models import JobRequest
from controller.settings import ControllerSettings
from controller.store import FleetStore
from controller.worker.celery_app import make_celery
from controller.worker.tasks import ADVANCE


async def _store_call(redis_url: str, prefix: str, action: str, **kw: object) -> object:
    redis = open_redis(redis_url)
    store = FleetStore(redis, prefix)
    try:
        if action == "create":
            settings = kw["settings"]
            assert isinstance(settings, ControllerSettings)
            await store.put_agent("gone", {"name": "gone", "url": "https://127.0.0.9:1", "labels": "{}"})
            request = JobRequest.model_validate({"action": "pool.recycle", "target": {"agents": ["gone"]},
                                                 "params": {"name": "p"}})
            job_id = await jobs.create_job(store, settings, request)
            await store.delete_agent("gone")  # revoked after the job was accepted
            return job_id
        if action == "view":
            return await jobs.job_view(store, str(kw["job_id"]))
        await store.clear()
        return None
    finally:
        await redis.aclose()


def test_tasks_run_a_job_to_its_end(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = ControllerSettings(state_dir=tmp_path, redis_url=redis_url, redis_prefix=prefix)
    # The broker is in memory; the job state lives in the real Redis.
    app = make_celery("memory://", prefix, settings, state_url=redis_url)
    job_id = asyncio.run(_store_call(redis_url, prefix, "create", settings=settings))
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            app.send_task(ADVANCE, args=[job_id])
            deadline = time.monotonic() + 20
            view: dict[str, object] = {}
            while time.monotonic() < deadline:
                view = asyncio.run(_store_call(redis_url, prefix, "view", job_id=job_id))  # type: ignore[assignment]
                if view["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.1)
        assert view["status"] == "failed", view
        results = view["results"]
        assert isinstance(results, list) and "no longer enrolled" in results[0]["detail"]
    finally:
        asyncio.run(_store_call(redis_url, prefix, "clear"))
