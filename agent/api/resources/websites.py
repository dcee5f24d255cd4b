"""Websites: /api/webserver/websites."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api import mapping
from agent.api.context import Ctx, context
from agent.api.features.links import feature_links
from agent.api.http import created_response, json_response, list_response, read_json, render, updated_response
from agent.api.mapping import Attr, Bool, Int, Seconds
from agent.api.refs import (
    SITES_PATH,
    VDIRS_PATH,
    WEBAPPS_PATH,
    find_pool,
    find_site,
    pool_ref,
    reference_id,
    root_app,
    root_vdir,
    site_id,
)
from agent.api.resources import bindings as binding_json
from agent.api.resources.physical_paths import validate_physical_path
from agent.api.resources.runtime import change_site_status, parse_status
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import SITES, site_key
from shared.errors import AlreadyExists, InvalidParameter, NotFound

RESOURCE = "Microsoft.WebServer.WebSite"
REF_FIELDS = ("name", "id", "status")
UINT32 = 4294967295

ATTRS = (
    Attr("server_auto_start", "serverAutoStart", Bool()),
    Attr("limits.connection_timeout", "limits/connectionTimeout", Seconds(0, 65535)),
    Attr("limits.max_bandwidth", "limits/maxBandwidth", Int(0, UINT32)),
    Attr("limits.max_connections", "limits/maxConnections", Int(0, UINT32)),
    Attr("limits.max_url_segments", "limits/maxUrlSegments", Int(0, 16383)),
)


def _physical_path(ctx: Ctx, site: ConfigElement) -> str:
    app = root_app(site)
    vdir = root_vdir(app) if app is not None else None
    return str(vdir.get("physicalPath") or "") if vdir is not None else ""


def _pool(ctx: Ctx, site: ConfigElement) -> dict[str, Any] | None:
    app = root_app(site)
    pool = ctx.index.pool(str(app.get("applicationPool"))) if app is not None else None
    return pool_ref(ctx, pool) if pool is not None else None


def _enabled_protocols(ctx: Ctx, site: ConfigElement) -> str:
    app = root_app(site)
    return str(app.get("enabledProtocols")) if app is not None else ""


GETTERS: dict[str, Any] = {
    "name": lambda ctx, s: str(s.get("name")),
    "id": site_id,
    "physical_path": _physical_path,
    "key": lambda ctx, s: site_key(s),
    "status": lambda ctx, s: ctx.host.site_status(str(s.get("name"))).value,
    "server_auto_start": lambda ctx, s: bool(s.get("serverAutoStart")),
    "enabled_protocols": _enabled_protocols,
    "limits": lambda ctx, s: mapping.read(s, ATTRS[1:])["limits"],
    "bindings": lambda ctx, s: [binding_json.to_json(ctx, b) for b in s.collection("bindings")],
    "application_pool": _pool,
}


def links(ctx: Ctx, site: ConfigElement) -> dict[str, str]:
    """The `_links` of a full website model."""
    sid = site_id(ctx, site)
    return {
        "self": f"{SITES_PATH}/{sid}",
        "webapps": f"{WEBAPPS_PATH}?website.id={sid}",
        "vdirs": f"{VDIRS_PATH}?website.id={sid}",
        "monitoring": f"{SITES_PATH}/monitoring/{sid}",
        "requests": f"/api/webserver/http-request-monitor/requests?website.id={sid}",
        "files": f"/api/webserver/files/{ctx.codec.encode(Purpose.WEBSERVER_FILE, f'/{chr(10)}{site_key(site)}')}",
        **feature_links(ctx, site, "/", "site"),
    }


def model(ctx: Ctx, site: ConfigElement) -> dict[str, Any]:
    """The full model (or the `fields=` selection of it)."""
    return render(ctx, site, GETTERS, ctx.fields, GETTERS.keys(), links, hal=ctx.hal)


async def list_websites(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/websites[?application_pool.id=]."""
    ctx = context(request)
    sites = ctx.index.sites
    if "application_pool.id" in request.query:
        pool = find_pool(ctx, request.query["application_pool.id"])
        using = {id(site) for site, _app in ctx.index.apps_by_pool.get(str(pool.get("name")).lower(), [])}
        sites = [site for site in sites if id(site) in using]
    items = [render(ctx, s, GETTERS, ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True) for s in sites]
    return list_response(request, "websites", items, resource="Microsoft.WebServer.WebSites")


async def get_website(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/websites/{id}."""
    ctx = context(request)
    return json_response(request, model(ctx, find_site(ctx, request.match_info["id"])), resource=RESOURCE)


def _next_key(ctx: Ctx) -> int:
    keys = ctx.index.sites_by_key
    key = 1
    while key in keys:
        key += 1
    return key


def _pool_name(ctx: Ctx, body: dict[str, Any]) -> str | None:
    pool_ref_id = reference_id(body, "application_pool")
    return None if pool_ref_id is None else str(find_pool(ctx, pool_ref_id).get("name"))


def _validate(ctx: Ctx, body: dict[str, Any], site: ConfigElement | None) -> dict[str, Any]:
    """Everything a create or patch will write, checked before anything changes."""
    plan: dict[str, Any] = {"attrs": mapping.parse(body, ATTRS)}
    name = body.get("name")
    if isinstance(name, str):
        if not name.strip():
            raise InvalidParameter("name")
        other = ctx.index.site_named(name.strip())
        if other is not None and other is not site:
            raise AlreadyExists("name")
        plan["name"] = name.strip()
    if body.get("key") is not None:
        key = mapping.Int(1, 2147483647).from_json(body["key"], "key")
        other = ctx.index.site(key)
        if other is not None and other is not site:
            raise AlreadyExists("key")
        plan["key"] = key
    if body.get("physical_path") is not None:
        plan["physical_path"] = validate_physical_path(ctx, body["physical_path"])
    if isinstance(body.get("enabled_protocols"), str):
        plan["enabled_protocols"] = body["enabled_protocols"]
    if "bindings" in body and body["bindings"] is not None:
        plan["bindings"] = binding_json.parse_bindings(ctx, body["bindings"])
    plan["pool"] = _pool_name(ctx, body)
    plan["status"] = parse_status(body, ("started", "stopped"))
    return plan


def _apply(ctx: Ctx, site: ConfigElement, plan: dict[str, Any]) -> None:
    if "name" in plan:
        site.set("name", plan["name"])
    if "key" in plan:
        site.set("id", plan["key"])
    mapping.apply(site, plan["attrs"])
    if "bindings" in plan:
        binding_json.replace_bindings(site, plan["bindings"])
    app = root_app(site)
    if app is None:
        app = site.collection().add({"path": "/"})
    if plan.get("pool"):
        app.set("applicationPool", plan["pool"])
    if "enabled_protocols" in plan:
        app.set("enabledProtocols", plan["enabled_protocols"])
    if "physical_path" in plan:
        vdir = root_vdir(app) or app.collection().add({"path": "/"})
        vdir.set("physicalPath", plan["physical_path"])


async def create_website(request: web.Request) -> web.StreamResponse:
    """POST /api/webserver/websites."""
    body = await read_json(request)
    for required in ("name", "physical_path", "bindings"):
        if not body.get(required) and body.get(required) != []:
            raise InvalidParameter(required)
    if not isinstance(body.get("name"), str):
        raise InvalidParameter("name")
    ctx = context(request)
    async with ctx.store.write() as store:
        plan = _validate(ctx, body, None)
        key = plan.pop("key", None) or _next_key(ctx)
        site = store.section(SITES).collection().add({"name": plan.pop("name"), "id": key})
        if not plan.get("pool"):
            plan["pool"] = str(store.section(SITES).child("applicationDefaults").get("applicationPool"))
        _apply(ctx, site, plan)
    created = ctx.index.site(key)
    if created is None:
        raise NotFound(name="site")
    return created_response(request, model(ctx, created), collection=SITES_PATH, resource=RESOURCE)


async def update_website(request: web.Request) -> web.StreamResponse:
    """PATCH /api/webserver/websites/{id}."""
    body = await read_json(request)
    ctx = context(request)
    old_id = request.match_info["id"]
    async with ctx.store.write():
        site = find_site(ctx, old_id)
        plan = _validate(ctx, body, site)
        await change_site_status(ctx, str(site.get("name")), plan.pop("status"))
        _apply(ctx, site, plan)
        key = site_key(site)
    updated = ctx.index.site(key)
    if updated is None:
        raise NotFound(name="site")
    return updated_response(request, model(ctx, updated), old_id=old_id, collection=SITES_PATH, resource=RESOURCE)


async def delete_website(request: web.Request) -> web.StreamResponse:
    """DELETE /api/webserver/websites/{id}: 204 whether or not the site existed."""
    ctx = context(request)
    key = ctx.codec.decode(Purpose.SITE, request.match_info["id"])  # an id that does not decode is a 404
    async with ctx.store.write():
        site = ctx.index.site(int(key)) if key.isdigit() else None
        if site is not None:
            site.remove()
    return web.Response(status=204)
