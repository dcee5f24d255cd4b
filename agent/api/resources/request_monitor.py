"""The request monitor: /api/webserver/http-request-monitor and the requests in flight under it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.features.spec import FeatureSpec
from agent.api.features.view import install, installed, uninstall
from agent.api.http import STATUS_ID_CHANGED, Nested, json_response, list_response, render
from agent.api.refs import find_site, site_nested
from agent.api.resources.worker_processes import find_worker, worker_nested, workers
from agent.hosting.runtime_types import RequestSnapshot, WorkerSnapshot
from agent.ids import Purpose
from shared.errors import AlreadyExists, InvalidParameter, NotFound

FEATURE_PATH = "/api/webserver/http-request-monitor"
REQUESTS_PATH = FEATURE_PATH + "/requests"
RESOURCE = "Microsoft.WebServer.RequestMonitoring"
MODULE = "RequestMonitorModule"
REF_FIELDS = ("url", "id", "time_elapsed")
DEFAULT_MIN_ELAPSED_MS = 1000  # upstream lists only requests older than a second unless told otherwise
# The supervisor's stages in IIS pipeline-state names; waiting for a worker is before any module runs.
PIPELINE_STATES = {"WaitingForWorker": "BeginRequest"}


def _require_module(ctx: Ctx) -> None:
    modules = ctx.store.section("system.webServer/globalModules").collection()
    if modules.find(name=MODULE) is None:
        raise NotFound(name="Request Monitor", detail="IIS feature not installed")


def feature_id(ctx: Ctx) -> str:
    """The id of the request-monitor feature (empty plaintext)."""
    return ctx.codec.encode(Purpose.REQUEST_MONITOR, "")


def _feature(ctx: Ctx) -> dict[str, Any]:
    fid = feature_id(ctx)
    body: dict[str, Any] = {"id": fid}
    if ctx.hal:
        body["_links"] = {"requests": {"href": REQUESTS_PATH}, "self": {"href": f"{FEATURE_PATH}/{fid}"}}
    return body


async def get_request_monitor(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/http-request-monitor: 209 with the Location of the feature resource."""
    ctx = context(request)
    _require_module(ctx)
    body = _feature(ctx)
    return json_response(request, body, status=STATUS_ID_CHANGED, resource=RESOURCE,
                         location=f"{FEATURE_PATH}/{body['id']}")  # fmt: skip


async def get_request_monitor_by_id(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/http-request-monitor/{id}."""
    ctx = context(request)
    _require_module(ctx)
    if request.match_info["id"] != feature_id(ctx):
        raise NotFound(name="request_monitor")
    return json_response(request, _feature(ctx), resource=RESOURCE)


# The Windows feature IIS-RequestMonitor as the features table's install/uninstall see it.
INSTALLER = FeatureSpec(endpoint="http-request-monitor", link="", resource=RESOURCE, purpose=Purpose.REQUEST_MONITOR,
                        sections=(), modules=(MODULE,), images=("iisreqs.dll",), installable=True,
                        display="Request Monitor", install_name="IIS-RequestMonitor")  # fmt: skip


async def install_request_monitor(request: web.Request) -> web.StreamResponse:
    """POST /api/webserver/http-request-monitor: install (201 + Location), 409 when installed."""
    ctx = context(request)
    if installed(ctx, INSTALLER):
        raise AlreadyExists(INSTALLER.display)
    async with ctx.store.write():
        install(ctx, INSTALLER)
    body = _feature(ctx)
    return json_response(request, body, status=201, resource=RESOURCE, location=f"{FEATURE_PATH}/{body['id']}")


async def uninstall_request_monitor(request: web.Request) -> web.StreamResponse:
    """DELETE /api/webserver/http-request-monitor/{id}: uninstall; 204 whether or not it was installed."""
    ctx = context(request)
    if request.match_info["id"] != feature_id(ctx):
        raise NotFound(name="request_monitor")
    if installed(ctx, INSTALLER):
        async with ctx.store.write():
            uninstall(ctx, INSTALLER)
    return web.Response(status=204)


Item = tuple[WorkerSnapshot, RequestSnapshot]


def request_id(ctx: Ctx, item: Item) -> str:
    """`{pid}\\n{request id}`."""
    return ctx.codec.encode(Purpose.REQUEST, f"{item[0].pid}\n{item[1].id}")


def _site(ctx: Ctx, item: Item) -> Nested | None:
    site = ctx.index.site_named(item[1].site)
    return site_nested(ctx, site) if site is not None else None


GETTERS: dict[str, Any] = {
    "url": lambda ctx, i: i[1].url,
    "id": request_id,
    "method": lambda ctx, i: i[1].method,
    "host_name": lambda ctx, i: i[1].host,
    "client_ip_address": lambda ctx, i: i[1].client.rpartition(":")[0].strip("[]"),
    # The supervisor does not keep the accepting socket's address per request.
    "local_ip_address": lambda ctx, i: "",
    "local_port": lambda ctx, i: 0,
    "request_id": lambda ctx, i: f"{i[1].id:016X}",
    "connection_id": lambda ctx, i: "",
    "pipeline_state": lambda ctx, i: PIPELINE_STATES.get(i[1].stage, i[1].stage or "Unknown"),
    "current_module": lambda ctx, i: "",
    "time_elapsed": lambda ctx, i: i[1].elapsed_ms,
    "time_in_module": lambda ctx, i: i[1].elapsed_ms,
    "time_in_state": lambda ctx, i: i[1].elapsed_ms,
    "worker_process": lambda ctx, i: worker_nested(ctx, i[0]),
    "website": _site,
}


def links(ctx: Ctx, item: Item) -> dict[str, str]:
    """The `_links` of a request."""
    return {"self": f"{REQUESTS_PATH}/{request_id(ctx, item)}"}


def _in_flight(ctx: Ctx) -> list[Item]:
    seen: set[int] = set()
    items = []
    for worker in workers(ctx):
        for req in worker.requests:
            if req.id not in seen:  # upstream de-duplicates by request id
                seen.add(req.id)
                items.append((worker, req))
    return items


def _min_elapsed(request: web.Request) -> int:
    raw = request.query.get("time_elapsed")
    if raw is None:
        return DEFAULT_MIN_ELAPSED_MS
    if not raw.strip().isdigit():
        raise InvalidParameter("time_elapsed")
    return int(raw)


async def list_requests(request: web.Request) -> web.StreamResponse:
    """GET …/requests[?wp.id=|?website.id=][&time_elapsed=ms]: requests in flight at least that old."""
    ctx = context(request)
    _require_module(ctx)
    minimum = _min_elapsed(request)
    items = [i for i in _in_flight(ctx) if i[1].elapsed_ms >= minimum]
    if "wp.id" in request.query:
        pid = find_worker(ctx, request.query["wp.id"], "wp.id").pid
        items = [i for i in items if i[0].pid == pid]
    if "website.id" in request.query:
        name = str(find_site(ctx, request.query["website.id"]).get("name")).lower()
        items = [i for i in items if i[1].site.lower() == name]
    body = [render(ctx, i, GETTERS, ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True) for i in items]
    return list_response(request, "requests", body, resource="Microsoft.WebServer.RequestMonitoring.Requests")


async def get_request(request: web.Request) -> web.StreamResponse:
    """GET …/requests/{id}; 404 once the request finished or its worker is gone."""
    ctx = context(request)
    _require_module(ctx)
    pid, number = ctx.codec.decode_parts(Purpose.REQUEST, request.match_info["id"], 2)
    for item in _in_flight(ctx):
        if str(item[0].pid) == pid and str(item[1].id) == number:
            body = render(ctx, item, GETTERS, ctx.fields, GETTERS.keys(), links, hal=ctx.hal)
            return json_response(request, body, resource="Microsoft.WebServer.RequestMonitoring.Request")
    raise NotFound(name="request")
