"""Bootstrap routes: start installing an agent over SSH or WinRM (202 + Location), then follow its status."""

from __future__ import annotations

from aiohttp import web

from controller.api.http import read_model
from controller.bootstrap import records, service
from controller.bootstrap.models import BootstrapRequest
from controller.keys import CA, OPERATOR, SETTINGS, STORE
from controller.services import audit
from shared.errors import NotFound


async def create_bootstrap(request: web.Request) -> web.Response:
    """POST /api/bootstrap."""
    body = await read_model(request, BootstrapRequest)
    app = request.app
    operator = request[OPERATOR]
    view = await service.start(service.context_for(app[STORE], app[SETTINGS], app[CA].fingerprint, operator), body)
    await audit.record(app[STORE], app[SETTINGS].audit_maxlen, operator, "bootstrap.create", bootstrap=view["id"],
                       host=body.host, name=body.agent_name)
    return web.json_response(view, status=202, headers={"Location": f"/api/bootstrap/{view['id']}"})


async def get_bootstrap(request: web.Request) -> web.Response:
    """GET /api/bootstrap/{id}."""
    bootstrap_id = request.match_info["id"]
    view = await records.view(request.app[STORE], bootstrap_id)
    if view is None:
        raise NotFound(name="id", detail=f"no bootstrap has id {bootstrap_id!r} (records expire after 7 days)")
    return web.json_response(view)
