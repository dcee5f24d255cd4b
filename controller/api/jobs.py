"""Job routes: create (202 + Location), list, show, follow as server-sent events, cancel, re-run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from controller.api.http import read_model
from controller.keys import CELERY, OPERATOR, SECRET_BOX, SETTINGS, STORE
from controller.services import audit, jobs
from controller.services.errors import UnknownAgent
from controller.services.job_access import visible_job
from controller.services.job_models import FINISHED, JobRequest
from controller.services.rollout import advance
from controller.store import FleetStore
from controller.worker.tasks import ADVANCE, STEP
from shared.errors import InvalidParameter

KEEPALIVE_MS = 4_000
"""Longest XREAD block: below redis-py's default socket timeout (5 s); an empty round sends a keep-alive."""


async def _enqueue_advance(request: web.Request, job_id: str) -> None:
    await asyncio.to_thread(request.app[CELERY].send_task, ADVANCE, args=[job_id])


async def _accepted(request: web.Request, job_id: str) -> web.Response:
    view = await jobs.job_view(request.app[STORE], job_id)
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, request[OPERATOR], "job.create",
                       agents=[r["agent"] for r in view["results"]], job=job_id, job_action=view["action"],
                       parent=view["parent"] or "")
    await _enqueue_advance(request, job_id)
    return web.json_response(view, status=202, headers={"Location": f"/api/jobs/{job_id}"})


async def create_job(request: web.Request) -> web.Response:
    """POST /api/jobs."""
    job_request = await read_model(request, JobRequest)
    job_id = await jobs.create_job(request.app[STORE], request.app[SETTINGS], job_request, operator=request[OPERATOR])
    return await _accepted(request, job_id)


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, str(default)))
    except ValueError as err:
        raise InvalidParameter(name, f"{name} must be an integer") from err


async def list_jobs(request: web.Request) -> web.Response:
    """GET /api/jobs?page=&per_page= or ?cursor=&per_page=: newest first."""
    cursor_text = request.query.get("cursor")
    try:
        cursor = float(cursor_text) if cursor_text else None
    except ValueError as err:
        raise InvalidParameter("cursor", "cursor must be the next_cursor of a previous page") from err
    store = request.app[STORE]
    page = await jobs.list_jobs(store, _int(request, "page", 1), _int(request, "per_page", 20), cursor)
    operator = request[OPERATOR]
    if operator.scope:  # a scoped key sees the jobs whose agents are all in its scope
        page["jobs"] = [job for job in page["jobs"] if await _visible(store, request, job["id"])]
    return web.json_response(page)


async def _visible(store: FleetStore, request: web.Request, job_id: str) -> bool:
    try:
        await visible_job(store, request[OPERATOR], job_id)
    except UnknownAgent:
        return False
    return True


async def get_job(request: web.Request) -> web.Response:
    """GET /api/jobs/{id}."""
    await visible_job(request.app[STORE], request[OPERATOR], request.match_info["id"])
    return web.json_response(await jobs.job_view(request.app[STORE], request.match_info["id"]))


def _frame(event_id: str, fields: dict[str, str]) -> bytes:
    data: dict[str, Any] = {"type": fields.get("type", ""), "ts": float(fields.get("ts", "0"))}
    data.update(json.loads(fields.get("data") or "{}"))
    return f"id: {event_id}\nevent: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


async def job_events(request: web.Request) -> web.StreamResponse:
    """GET /api/jobs/{id}/events: the history, then live events until the job finishes (SSE, resumable)."""
    store = request.app[STORE]
    job_id = request.match_info["id"]
    await visible_job(store, request[OPERATOR], job_id)
    await jobs.job_view(store, job_id, with_results=False)  # 404 for an unknown job
    after = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    follow = request.query.get("follow", "1") not in ("0", "false", "no")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    backlog = True
    while True:
        events = await store.events(job_id, after) if backlog else await store.wait_events(job_id, after, KEEPALIVE_MS)
        backlog = False
        finished = False
        for event_id, fields in events:
            await response.write(_frame(event_id, fields))
            after = event_id
            finished = finished or fields.get("type") == "job.finished"
        if finished or not follow:
            break
        if not events:
            if (await store.job(job_id)).get("status") in FINISHED:
                break
            await response.write(b": keepalive\n\n")
    await response.write_eof()
    return response


async def cancel_job(request: web.Request) -> web.Response:
    """POST /api/jobs/{id}/cancel: no new step starts; the job ends `cancelled` once running steps end."""
    store = request.app[STORE]
    job_id = request.match_info["id"]
    await visible_job(store, request[OPERATOR], job_id)
    await jobs.request_cancel(store, job_id)
    await audit.record(store, request.app[SETTINGS].audit_maxlen, request[OPERATOR], "job.cancel", job=job_id)
    celery = request.app[CELERY]

    async def dispatch(job_id: str, agent_ids: list[str], parallelism: int | None) -> None:
        for agent_id in agent_ids:
            await asyncio.to_thread(celery.send_task, STEP, args=[job_id, agent_id])

    await advance(store, job_id, dispatch)
    return web.json_response(await jobs.job_view(store, job_id), status=202,
                             headers={"Location": f"/api/jobs/{job_id}"})


async def rerun_job(request: web.Request) -> web.Response:
    """POST /api/jobs/{id}/rerun: a new job with the same action on the hosts that did not succeed."""
    store = request.app[STORE]
    parent = request.match_info["id"]
    await visible_job(store, request[OPERATOR], parent)
    job_request, agents = await jobs.rerun_request(store, parent, request.app[SECRET_BOX])
    job_id = await jobs.create_job(store, request.app[SETTINGS], job_request, parent=parent, agents=agents,
                                   operator=request[OPERATOR])
    return await _accepted(request, job_id)
