"""Prometheus integration: HTTP service discovery from the registry, and the fleet's /metrics."""

from __future__ import annotations

import json
import weakref

from aiohttp import web

from controller import metrics
from controller.keys import OPERATOR, SETTINGS, STORE
from controller.services import fleet
from controller.store import FleetStore

_TARGETS: weakref.WeakKeyDictionary[FleetStore, tuple[str, bytes]] = weakref.WeakKeyDictionary()
"""Per store (one per app): the directory version and the targets body built from it."""
_METRICS: weakref.WeakKeyDictionary[FleetStore, metrics.FleetMetrics] = weakref.WeakKeyDictionary()
"""Per store: the /metrics renderer and the per-agent parts it keeps between scrapes."""


async def prometheus_targets(request: web.Request) -> web.Response:
    """GET /api/prometheus/targets: Prometheus http_sd groups, one per agent.

    For an unscoped caller the body is rebuilt only when the directory changed (its version counter), so a
    scrape of a large, stable fleet costs one Redis GET. A scoped key's view is computed each time.
    """
    store = request.app[STORE]
    scope = request[OPERATOR].scope
    if scope:
        return web.json_response(await fleet.prometheus_targets(store, scope))
    version = await store.directory_version()
    cached = _TARGETS.get(store)
    if cached is not None and cached[0] == version:
        body = cached[1]
    else:
        body = json.dumps(await fleet.prometheus_targets(store, scope), separators=(",", ":")).encode()
        _TARGETS[store] = (version, body)
    return web.Response(body=body, content_type="application/json")


async def fleet_metrics(request: web.Request) -> web.Response:
    """GET /metrics: agents up, pools by state, request rates per site and pool over the fleet."""
    store = request.app[STORE]
    renderer = _METRICS.get(store)
    if renderer is None:
        renderer = _METRICS[store] = metrics.FleetMetrics()
    body = await renderer.scrape(store, request.app[SETTINGS].offline_after, request[OPERATOR].scope)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})
