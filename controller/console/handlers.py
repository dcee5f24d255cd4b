"""Console routes: the single page at `/` and its static files at `/console/...` (both public: they hold no data)."""

from __future__ import annotations

from aiohttp import web

from controller.console.assets import ASSETS, answer
from shared.errors import NotFound


async def index(request: web.Request) -> web.Response:
    """GET /: the console's page (it signs in and then calls the API itself)."""
    return answer(request, request.app[ASSETS]["index.html"])


async def asset(request: web.Request) -> web.Response:
    """GET /console/{name}: one static file of the console."""
    found = request.app[ASSETS].get(request.match_info["name"])
    if found is None:
        raise NotFound(name="name", detail="no such console file")
    return answer(request, found)
