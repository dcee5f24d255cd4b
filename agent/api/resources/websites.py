"""Websites: /api/webserver/websites."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api import mapping, model_cache
from agent.api.context import Ctx
from agent.api.features.links import feature_links
from agent.api.http import Nested
from agent.api.mapping import Attr, Bool, Int, Seconds
from agent.api.refs import (
    SITES_PATH,
    VDIRS_PATH,
    WEBAPPS_PATH,
    find_pool,
    find_site,
    pool_nested,
    reference_id,
    root_app,
    root_vdir,
    site_id,
)
from agent.api.resources import bindings as binding_json
from agent.api.resources.mixins import CrudMixin
from agent.api.resources.physical_paths import validate_physical_path
from agent.api.resources.status_changes import change_site_status, parse_status
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import SITES, site_key
from shared.errors import AlreadyExists, InvalidParameter

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


def _pool(ctx: Ctx, site: ConfigElement) -> Nested | None:
    app = root_app(site)
    pool = ctx.index.pool(str(app.get("applicationPool"))) if app is not None else None
    return pool_nested(ctx, pool) if pool is not None else None


def _enabled_protocols(ctx: Ctx, site: ConfigElement) -> str:
    app = root_app(site)
    return str(app.get("enabledProtocols")) if app is not None else ""


GETTERS: dict[str, Any] = {
    "name": lambda ctx, s: str(s.get("name")),
    "id": site_id,
    "physical_path": _physical_path,
    "key": lambda ctx, s: site_key(s),
    "status": lambda ctx, s: ctx.host.site_status(s.get_raw("name") or "").value,
    "server_auto_start": lambda ctx, s: bool(s.get("serverAutoStart")),
    "enabled_protocols": _enabled_protocols,
    "limits": lambda ctx, s: mapping.read(s, ATTRS[1:])["limits"],
    "bindings": lambda ctx, s: [binding_json.to_json(ctx, b) for b in s.collection("bindings")],
    "application_pool": _pool,
}


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


class Websites(CrudMixin[ConfigElement]):
    """/api/webserver/websites[?application_pool.id=]."""

    path = SITES_PATH
    resource = RESOURCE
    list_resource = "Microsoft.WebServer.WebSites"
    list_key = "websites"
    ref_fields = REF_FIELDS
    getters = GETTERS
    purpose = Purpose.SITE
    cache_sections = (model_cache.SITES,)
    live = frozenset({"status", "application_pool"})

    def item_id(self, ctx: Ctx, item: ConfigElement) -> str:
        return site_id(ctx, item)

    def find(self, ctx: Ctx, resource_id: str) -> ConfigElement:
        return find_site(ctx, resource_id)

    def links(self, ctx: Ctx, item: ConfigElement) -> dict[str, str]:
        sid = site_id(ctx, item)
        root = ctx.codec.encode(Purpose.WEBSERVER_FILE, f"/{chr(10)}{site_key(item)}")
        return {
            "self": f"{SITES_PATH}/{sid}",
            "webapps": f"{WEBAPPS_PATH}?website.id={sid}",
            "vdirs": f"{VDIRS_PATH}?website.id={sid}",
            "monitoring": f"{SITES_PATH}/monitoring/{sid}",
            "requests": f"/api/webserver/http-request-monitor/requests?website.id={sid}",
            "files": f"/api/webserver/files/{root}",
            **feature_links(ctx, item, "/", "site"),
        }

    def select(self, ctx: Ctx, request: web.Request) -> list[ConfigElement]:
        sites = ctx.index.sites
        if "application_pool.id" in request.query:
            pool = find_pool(ctx, request.query["application_pool.id"])
            # The index lists (site, app) pairs in site order: no walk over every site of the server.
            pairs = ctx.index.apps_by_pool.get(str(pool.get("name")).lower(), [])
            return list(dict.fromkeys(site for site, _app in pairs))
        return list(sites)

    def check_create(self, body: dict[str, Any]) -> None:
        for required in ("name", "physical_path", "bindings"):
            if not body.get(required) and body.get(required) != []:
                raise InvalidParameter(required)
        if not isinstance(body.get("name"), str):
            raise InvalidParameter("name")

    def create_item(self, ctx: Ctx, request: web.Request, body: dict[str, Any]) -> ConfigElement:
        plan = _validate(ctx, body, None)
        key = plan.pop("key", None) or _next_key(ctx)
        sites = ctx.store.section(SITES)
        site = sites.collection().add({"name": plan.pop("name"), "id": key})
        if not plan.get("pool"):
            plan["pool"] = str(sites.child("applicationDefaults").get("applicationPool"))
        _apply(ctx, site, plan)
        return site

    async def update_item(self, ctx: Ctx, item: ConfigElement, body: dict[str, Any]) -> None:
        plan = _validate(ctx, body, item)
        await change_site_status(ctx, str(item.get("name")), plan.pop("status"))
        _apply(ctx, item, plan)


WEBSITES = Websites()
list_websites, get_website, create_website, update_website, delete_website = WEBSITES.handlers("website", "websites")
