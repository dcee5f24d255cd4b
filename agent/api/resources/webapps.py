"""Web applications: /api/webserver/webapps."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.features.links import feature_links
from agent.api.http import created_response, json_response, list_response, read_json, render, updated_response
from agent.api.refs import (
    VDIRS_PATH,
    WEBAPPS_PATH,
    app_id,
    app_location,
    find_app,
    find_pool,
    find_site,
    pool_ref,
    reference_id,
    root_vdir,
    site_ref,
)
from agent.api.resources.physical_paths import validate_physical_path
from agent.api.scope import site_from_scope
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from shared.errors import AlreadyExists, InvalidParameter, NotFound

RESOURCE = "Microsoft.WebServer.WebApp"
REF_FIELDS = ("location", "id", "path")
Item = tuple[ConfigElement, ConfigElement]


def _physical_path(ctx: Ctx, item: Item) -> str | None:
    vdir = root_vdir(item[1])
    return str(vdir.get("physicalPath") or "") if vdir is not None else None


def _pool(ctx: Ctx, item: Item) -> dict[str, Any] | None:
    pool = ctx.index.pool(str(item[1].get("applicationPool")))
    return pool_ref(ctx, pool) if pool is not None else None


GETTERS: dict[str, Any] = {
    "location": lambda ctx, i: app_location(*i),
    "path": lambda ctx, i: str(i[1].get("path")),
    "id": lambda ctx, i: app_id(ctx, *i),
    "physical_path": _physical_path,
    "enabled_protocols": lambda ctx, i: str(i[1].get("enabledProtocols")),
    "preload_enabled": lambda ctx, i: bool(i[1].get("preloadEnabled")),
    "website": lambda ctx, i: site_ref(ctx, i[0]),
    "application_pool": _pool,
}


def links(ctx: Ctx, item: Item) -> dict[str, str]:
    """The `_links` of a full application model."""
    aid = app_id(ctx, *item)
    links = {"self": f"{WEBAPPS_PATH}/{aid}", "vdirs": f"{VDIRS_PATH}?webapp.id={aid}"}
    return {**links, **feature_links(ctx, item[0], str(item[1].get("path")), "app")}


def model(ctx: Ctx, item: Item) -> dict[str, Any]:
    """The full model (or the `fields=` selection of it)."""
    out = render(ctx, item, GETTERS, ctx.fields, GETTERS.keys(), links, hal=ctx.hal)
    if out.get("physical_path", "") is None:
        del out["physical_path"]  # upstream omits the member when the app has no root directory
    return out


async def list_webapps(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/webapps?website.id= | application_pool.id= | scope=."""
    ctx = context(request)
    query = request.query
    if "application_pool.id" in query:
        pool = find_pool(ctx, query["application_pool.id"])
        items = list(ctx.index.apps_by_pool.get(str(pool.get("name")).lower(), []))
    elif "website.id" in query or "scope" in query:
        site = find_site(ctx, query["website.id"]) if "website.id" in query else site_from_scope(ctx, query["scope"])
        items = [(site, app) for app in site.collection()]
    else:
        raise NotFound(name="website", detail="Select the applications with website.id, application_pool.id or scope.")
    rendered = [render(ctx, i, GETTERS, ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True) for i in items]
    return list_response(request, "webapps", rendered, resource="Microsoft.WebServer.WebApps")


async def get_webapp(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/webapps/{id}."""
    ctx = context(request)
    return json_response(request, model(ctx, find_app(ctx, request.match_info["id"])), resource=RESOURCE)


def _path(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidParameter("path")
    path = raw.strip().replace("\\", "/")
    path = path if path.startswith("/") else "/" + path
    if ".." in path.split("/") or "//" in path:
        raise InvalidParameter("path", "The path must not contain empty or '..' segments.")
    return path.rstrip("/") or "/"


def _validate(ctx: Ctx, body: dict[str, Any], site: ConfigElement, app: ConfigElement | None) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    if body.get("path") is not None or app is None:
        path = _path(body.get("path"))
        other = site.collection().find(path=path)
        if other is not None and other is not app and str(other.get("path")) == path:
            raise AlreadyExists("path")
        plan["path"] = path
    if body.get("physical_path") is not None or app is None:
        plan["physical_path"] = validate_physical_path(ctx, body.get("physical_path"))
    if isinstance(body.get("enabled_protocols"), str):
        plan["enabled_protocols"] = body["enabled_protocols"]
    pool_ref_id = reference_id(body, "application_pool")
    if pool_ref_id is not None:
        # Upstream silently ignores an unknown pool here; we answer 404 (see docs/compatibility.md).
        plan["pool"] = str(find_pool(ctx, pool_ref_id).get("name"))
    preload = body.get("preload_enabled")
    if isinstance(preload, bool) or (isinstance(preload, str) and preload.lower() in ("true", "false")):
        plan["preload"] = preload if isinstance(preload, bool) else preload.lower() == "true"
    elif preload is not None:
        raise InvalidParameter("preload_enabled")
    return plan


def _apply(app: ConfigElement, plan: dict[str, Any]) -> None:
    if "path" in plan:
        app.set("path", plan["path"])
    if "pool" in plan:
        app.set("applicationPool", plan["pool"])
    if "enabled_protocols" in plan:
        app.set("enabledProtocols", plan["enabled_protocols"])
    if "preload" in plan:
        app.set("preloadEnabled", plan["preload"])
    if "physical_path" in plan:
        vdir = root_vdir(app) or app.collection().add({"path": "/"})
        vdir.set("physicalPath", plan["physical_path"])


def _site_for_create(ctx: Ctx, request: web.Request, body: dict[str, Any]) -> ConfigElement:
    if "website" in body and not isinstance(body["website"], dict):
        raise InvalidParameter("website")
    site_id = reference_id(body, "website") or request.query.get("website.id")
    if site_id:
        return find_site(ctx, site_id)
    scope = body.get("scope") or request.query.get("scope")
    if isinstance(scope, str) and scope:
        return site_from_scope(ctx, scope)
    raise InvalidParameter("website")


async def create_webapp(request: web.Request) -> web.StreamResponse:
    """POST /api/webserver/webapps."""
    body = await read_json(request)
    ctx = context(request)
    async with ctx.store.write() as store:
        site = _site_for_create(ctx, request, body)
        plan = _validate(ctx, body, site, None)
        plan.setdefault("pool", str(store.section("system.applicationHost/sites").child("applicationDefaults")
                                    .get("applicationPool")))
        app = site.collection().add({"path": plan["path"]})
        _apply(app, plan)
        item = (site, app)
        aid = app_id(ctx, *item)
    return created_response(request, model(ctx, find_app(ctx, aid)), collection=WEBAPPS_PATH, resource=RESOURCE)


async def update_webapp(request: web.Request) -> web.StreamResponse:
    """PATCH /api/webserver/webapps/{id}; a new path answers 209 with the new Location."""
    body = await read_json(request)
    ctx = context(request)
    old_id = request.match_info["id"]
    async with ctx.store.write():
        site, app = find_app(ctx, old_id)
        _apply(app, _validate(ctx, body, site, app))
        new_id = app_id(ctx, site, app)
    body = model(ctx, find_app(ctx, new_id))
    return updated_response(request, body, old_id=old_id, collection=WEBAPPS_PATH, resource=RESOURCE)


async def delete_webapp(request: web.Request) -> web.StreamResponse:
    """DELETE /api/webserver/webapps/{id}: 204 whether or not it existed; files are untouched."""
    ctx = context(request)
    ctx.codec.decode_parts(Purpose.APPLICATION, request.match_info["id"], 2)
    async with ctx.store.write():
        try:
            _site, app = find_app(ctx, request.match_info["id"])
        except NotFound:
            return web.Response(status=204)
        app.remove()
    return web.Response(status=204)
