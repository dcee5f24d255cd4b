"""The API root, /api/ping, the web server resource and its info."""

from __future__ import annotations

from aiohttp import web

from agent.api.context import context
from agent.api.features.links import feature_links
from agent.api.http import json_response
from agent.ids import Purpose
from agent.keys import SETTINGS
from shared.errors import NotFound

INFO_NAME = "Microsoft Internet Information Services"
WEBSERVER_LINKS = {
    "app_pools": "/api/webserver/application-pools",
    "websites": "/api/webserver/websites",
    "webapps": "/api/webserver/webapps",
    "vdirs": "/api/webserver/virtual-directories",
    "info": "/api/webserver/info",
    "worker_processes": "/api/webserver/worker-processes",
    "service_controller": "/api/webserver/service-controller",
    "files": "/api/webserver/files",
    "transactions": "/api/webserver/transactions",
}


async def get_api(request: web.Request) -> web.StreamResponse:
    """GET /api: host name and the top-level links."""
    body: dict[str, object] = {"host_name": request.app[SETTINGS].host_name}
    if context(request).hal:
        body["_links"] = {
            name: {"href": href}
            for name, href in sorted(
                {
                    "access_token": "/api/access-token",
                    "certificates": "/api/certificates",
                    "files": "/api/files",
                    "webserver": "/api/webserver",
                }.items()
            )
        }
    return json_response(request, body, resource="Microsoft.WebServer.Api")


async def ping(request: web.Request) -> web.StreamResponse:
    """GET /api/ping: an empty page, no token needed."""
    return web.Response(text="<!DOCTYPE html><html><head></head><body></body></html>", content_type="text/html")


def _webserver_body(request: web.Request) -> dict[str, object]:
    ctx = context(request)
    wid = ctx.codec.encode(Purpose.WEBSERVER, "")
    body: dict[str, object] = {"id": wid}
    if ctx.hal:
        links = {
            "self": "/api/webserver",
            **WEBSERVER_LINKS,
            "monitoring": f"/api/webserver/monitoring/{wid}",
            "request_monitor": f"/api/webserver/http-request-monitor/{ctx.codec.encode(Purpose.REQUEST_MONITOR, '')}",
            **feature_links(ctx, None, "", "webserver"),
        }
        body["_links"] = {name: {"href": links[name]} for name in sorted(links)}
    return body


async def get_webserver(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver."""
    return json_response(request, _webserver_body(request), resource="Microsoft.WebServer")


async def get_webserver_by_id(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/{id}: the same resource when the id is the web server's."""
    body = _webserver_body(request)
    if request.match_info["id"] != body["id"]:
        raise NotFound(name="webserver")
    return json_response(request, body, resource="Microsoft.WebServer")


async def get_info(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/info."""
    ctx = context(request)
    body: dict[str, object] = {
        "name": INFO_NAME,
        "id": ctx.codec.encode(Purpose.WEBSERVER, ""),
        "supports_sni": True,
        "status": ctx.host.server_status().value,
        "version": _version(),
    }
    if ctx.hal:
        body["_links"] = {"self": {"href": "/api/webserver/info"}}
    return json_response(request, body, resource="Microsoft.WebServer.Info")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"iisfleet-{version('iisfleet')}"
    except PackageNotFoundError:
        return "Unknown"
