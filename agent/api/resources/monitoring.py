"""Monitoring snapshots (/api/webserver/monitoring, …/websites/monitoring, …/application-pools/monitoring)
and the Prometheus endpoint /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.http import json_response, render
from agent.api.refs import find_pool, find_site, pool_id, pool_nested, root_app, site_id, site_nested
from agent.hosting.runtime_types import HostSnapshot
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.keys import HOST
from agent.monitoring import snapshots
from agent.monitoring.exposition import CONTENT_TYPE
from agent.monitoring.monitor import Monitor, Pair, monitor_for
from agent.monitoring.processes import read_processes
from agent.monitoring.prometheus import render_metrics
from shared.errors import NotFound

WEBSERVER_PATH = "/api/webserver/monitoring"
SITES_PATH = "/api/webserver/websites/monitoring"
POOLS_PATH = "/api/webserver/application-pools/monitoring"


async def _sampled(ctx: Ctx) -> tuple[Pair | None, HostSnapshot, Monitor]:
    monitor = monitor_for(ctx.host)
    pair = await monitor.pair()
    return pair, ctx.host.snapshot() or snapshots.EMPTY, monitor


def _render(ctx: Ctx, sid: str, members: dict[str, Any], href: str) -> dict[str, Any]:
    getters: dict[str, Callable[[Any, Any], Any]] = {"id": lambda c, m: sid}
    for name in members:
        getters[name] = _member(name)
    return render(ctx, members, getters, ctx.fields, getters.keys(), lambda c, m: {"self": href}, hal=ctx.hal)


def _member(name: str) -> Callable[[Any, Any], Any]:
    return lambda ctx, members: members[name]


async def get_webserver_monitoring(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/monitoring[/{id}]: the whole web server."""
    ctx = context(request)
    wid = ctx.codec.encode(Purpose.WEBSERVER, "")
    if request.match_info.get("id", wid) != wid:
        raise NotFound(name="webserver")
    pair, live, _monitor = await _sampled(ctx)
    body = _render(ctx, wid, snapshots.webserver(pair, live), f"{WEBSERVER_PATH}/{wid}")
    return json_response(request, body, resource="Microsoft.WebServer.Monitoring")


def _root_pool(ctx: Ctx, site: ConfigElement) -> str | None:
    app = root_app(site)
    pool = ctx.index.pool(str(app.get("applicationPool"))) if app is not None else None
    return str(pool.get("name")) if pool is not None else None


def _site(ctx: Ctx, site: ConfigElement, pair: Pair | None, live: HostSnapshot, monitor: Monitor) -> dict[str, Any]:
    name, sid = str(site.get("name")), site_id(ctx, site)
    members = snapshots.site(pair, live, name, _root_pool(ctx, site), monitor.uptime(name))
    members["website"] = site_nested(ctx, site)
    return _render(ctx, sid, members, f"{SITES_PATH}/{sid}")


async def list_website_monitoring(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/websites/monitoring: a snapshot per site."""
    ctx = context(request)
    pair, live, monitor = await _sampled(ctx)
    items = [_site(ctx, s, pair, live, monitor) for s in ctx.index.sites]
    return json_response(request, {"websites": items}, resource="Microsoft.WebServer.WebSite.Monitoring")


async def get_website_monitoring(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/websites/monitoring/{id} (the site's own id)."""
    ctx = context(request)
    site = find_site(ctx, request.match_info["id"])
    pair, live, monitor = await _sampled(ctx)
    body = _site(ctx, site, pair, live, monitor)
    return json_response(request, body, resource="Microsoft.WebServer.WebSite.Monitoring")


def _pool(ctx: Ctx, pool: ConfigElement, pair: Pair | None, live: HostSnapshot) -> dict[str, Any]:
    name = str(pool.get("name"))
    pid = pool_id(ctx, name)
    members = snapshots.pool(pair, live, name)
    members["application_pool"] = pool_nested(ctx, pool)
    return _render(ctx, pid, members, f"{POOLS_PATH}/{pid}")


async def list_app_pool_monitoring(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/application-pools/monitoring: a snapshot per pool."""
    ctx = context(request)
    pair, live, _monitor = await _sampled(ctx)
    items = [_pool(ctx, p, pair, live) for p in ctx.index.pools]
    return json_response(request, {"app_pools": items}, resource="Microsoft.WebServer.AppPool.Monitoring")


async def get_app_pool_monitoring(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/application-pools/monitoring/{id} (the pool's own id)."""
    ctx = context(request)
    pool = find_pool(ctx, request.match_info["id"])
    pair, live, _monitor = await _sampled(ctx)
    return json_response(request, _pool(ctx, pool, pair, live), resource="Microsoft.WebServer.AppPool.Monitoring")


async def get_metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: Prometheus text exposition, generated from one host snapshot."""
    host = request.app[HOST]
    snap = host.snapshot()
    pids = [w.pid for p in snap.pools.values() for w in p.workers if w.pid] if snap else []
    procs = await asyncio.to_thread(read_processes, pids)
    body = render_metrics(snap, procs, monitor_for(host))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
