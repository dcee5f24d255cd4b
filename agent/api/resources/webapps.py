"""Web applications: /api/webserver/webapps."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api import model_cache
from agent.api.context import Ctx
from agent.api.features.links import feature_links
from agent.api.http import Nested
from agent.api.refs import (
    VDIRS_PATH,
    WEBAPPS_PATH,
    app_id,
    app_location,
    find_app,
    find_pool,
    find_site,
    pool_nested,
    reference_id,
    root_vdir,
    site_nested,
)
from agent.api.resources.mixins import CrudMixin
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


def _pool(ctx: Ctx, item: Item) -> Nested | None:
    pool = ctx.index.pool(str(item[1].get("applicationPool")))
    return pool_nested(ctx, pool) if pool is not None else None


GETTERS: dict[str, Any] = {
    "location": lambda ctx, i: app_location(*i),
    "path": lambda ctx, i: str(i[1].get("path")),
    "id": lambda ctx, i: app_id(ctx, *i),
    "physical_path": _physical_path,
    "enabled_protocols": lambda ctx, i: str(i[1].get("enabledProtocols")),
    "preload_enabled": lambda ctx, i: bool(i[1].get("preloadEnabled")),
    "website": lambda ctx, i: site_nested(ctx, i[0]),
    "application_pool": _pool,
}


def _select(ctx: Ctx, request: web.Request) -> list[Item]:
    query = request.query
    if "application_pool.id" in query:
        pool = find_pool(ctx, query["application_pool.id"])
        return list(ctx.index.apps_by_pool.get(str(pool.get("name")).lower(), []))
    if "website.id" in query or "scope" in query:
        site = find_site(ctx, query["website.id"]) if "website.id" in query else site_from_scope(ctx, query["scope"])
        return [(site, app) for app in site.collection()]
    raise NotFound(name="website", detail="Select the applications with website.id, application_pool.id or scope.")


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
        if other is not None and (app is None or other.element is not app.element) and str(other.get("path")) == path:
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


class WebApps(CrudMixin[Item]):
    """/api/webserver/webapps[?website.id= | application_pool.id= | scope=]."""

    path = WEBAPPS_PATH
    resource = RESOURCE
    list_resource = "Microsoft.WebServer.WebApps"
    list_key = "webapps"
    ref_fields = REF_FIELDS
    getters = GETTERS
    purpose = Purpose.APPLICATION
    cache_sections = (model_cache.SITES,)
    live = frozenset({"website", "application_pool"})
    id_parts = 2

    def item_id(self, ctx: Ctx, item: Item) -> str:
        return app_id(ctx, *item)

    def find(self, ctx: Ctx, resource_id: str) -> Item:
        return find_app(ctx, resource_id)

    def links(self, ctx: Ctx, item: Item) -> dict[str, str]:
        aid = app_id(ctx, *item)
        links = {"self": f"{WEBAPPS_PATH}/{aid}", "vdirs": f"{VDIRS_PATH}?webapp.id={aid}"}
        return {**links, **feature_links(ctx, item[0], str(item[1].get("path")), "app")}

    def model(self, ctx: Ctx, item: Item) -> dict[str, Any]:
        out = super().model(ctx, item)
        if out.get("physical_path", "") is None:
            del out["physical_path"]  # upstream omits the member when the app has no root directory
        return out

    def select(self, ctx: Ctx, request: web.Request) -> list[Item]:
        return _select(ctx, request)

    def create_item(self, ctx: Ctx, request: web.Request, body: dict[str, Any]) -> Item:
        site = _site_for_create(ctx, request, body)
        plan = _validate(ctx, body, site, None)
        defaults = ctx.store.section("system.applicationHost/sites").child("applicationDefaults")
        plan.setdefault("pool", str(defaults.get("applicationPool")))
        app = site.collection().add({"path": plan["path"]})
        _apply(app, plan)
        return site, app

    async def update_item(self, ctx: Ctx, item: Item, body: dict[str, Any]) -> None:
        _apply(item[1], _validate(ctx, body, item[0], item[1]))


WEBAPPS = WebApps()
list_webapps, get_webapp, create_webapp, update_webapp, delete_webapp = WEBAPPS.handlers("webapp", "webapps")
