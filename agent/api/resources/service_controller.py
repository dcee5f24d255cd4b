"""The web server service (W3SVC): /api/webserver/service-controller, started and stopped through the host."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.http import json_response, read_json
from agent.api.resources.status_changes import parse_status
from agent.ids import Purpose
from shared.asyncio_utils import create_task

PATH = "/api/webserver/service-controller"
RESOURCE = "Microsoft.WebServer.ServiceController"
SERVICE = "W3SVC"
DISPLAY_NAME = "World Wide Web Publishing Service"
BODY = {"type": "object", "properties": {"status": {"type": "string", "enum": ["started", "stopped"]}}}
"""The PATCH body schema (OpenAPI)."""
# Upstream does not wait for the service; we wait this long so a quick change reports its final state.
SETTLE_SECONDS = 5.0
# The transition in progress per host, so GETs meanwhile report starting/stopping.
_PENDING: weakref.WeakKeyDictionary[object, tuple[str, asyncio.Task[None]]] = weakref.WeakKeyDictionary()


def _status(ctx: Ctx) -> str:
    pending = _PENDING.get(ctx.host)
    if pending is not None and not pending[1].done():
        return "starting" if pending[0] == "started" else "stopping"
    return ctx.host.server_status().value


def _model(ctx: Ctx) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": DISPLAY_NAME,
        "id": ctx.codec.encode(Purpose.SERVICE_CONTROLLER, SERVICE),
        "service_name": SERVICE,
        "status": _status(ctx),
    }
    if ctx.hal:
        body["_links"] = {"self": {"href": PATH}}
    return body


async def get_service_controller(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/service-controller."""
    return json_response(request, _model(context(request)), resource=RESOURCE)


async def update_service_controller(request: web.Request) -> web.StreamResponse:
    """PATCH /api/webserver/service-controller `{"status": "started"|"stopped"}`."""
    body = await read_json(request)
    ctx = context(request)
    wanted = parse_status(body, ("started", "stopped"))
    if wanted is not None and _status(ctx) != wanted:
        host = ctx.host
        pending = _PENDING.get(host)
        if pending is not None and not pending[1].done():
            await asyncio.wait({pending[1]}, timeout=SETTLE_SECONDS)
        action = host.start_server() if wanted == "started" else host.stop_server()
        task = create_task(action, name=f"web server {wanted}")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even if nobody waits
        _PENDING[host] = (wanted, task)
        await asyncio.wait({task}, timeout=SETTLE_SECONDS)
        if task.done():
            task.result()  # a failure to start or stop is this request's error
    return json_response(request, _model(ctx), resource=RESOURCE)
