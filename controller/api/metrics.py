"""Prometheus integration: HTTP service discovery from the registry, and the fleet's /metrics."""

from __future__ import annotations

from aiohttp import web

from controller import metrics
from controller.keys import OPERATOR, SETTINGS, STORE
from controller.services import fleet


async def prometheus_targets(request: web.Request) -> web.Response:
    """GET /api/prometheus/targets: Prometheus http_sd groups, one per agent."""
    return web.json_response(await fleet.prometheus_targets(request.app[STORE], request[OPERATOR].scope))


async def fleet_metrics(request: web.Request) -> web.Response:
    """GET /metrics: agents up, pools by state, request rates per site and pool over the fleet."""
    data = await fleet.aggregates(request.app[STORE], request.app[SETTINGS].offline_after, request[OPERATOR].scope)
    return web.Response(body=metrics.render(data), headers={"Content-Type": metrics.CONTENT_TYPE})
