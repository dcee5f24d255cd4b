"""Virtual directories: /api/webserver/virtual-directories."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api import model_cache
from agent.api.context import Ctx
from agent.api.refs import VDIRS_PATH, app_nested, find_app, find_site, reference_id, site_nested
from agent.api.resources.mixins import CrudMixin
from agent.api.resources.physical_paths import validate_physical_path
from agent.api.resources.webapps import _path as parse_path
from agent.api.scope import app_from_scope
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import site_key
from shared.errors import AlreadyExists, InvalidParameter, NotFound

RESOURCE = "Microsoft.WebServer.VirtualDirectory"
REF_FIELDS = ("location", "id", "path")
LOGON = {"interactive": "Interactive", "batch": "Batch", "network": "Network", "network_cleartext": "ClearText"}
Item = tuple[ConfigElement, ConfigElement, ConfigElement]  # site, application, virtual directory


def vdir_id(ctx: Ctx, site: ConfigElement, app: ConfigElement, vdir: ConfigElement) -> str:
    """The opaque id of a virtual directory."""
    return ctx.codec.encode(Purpose.VDIR, f"{vdir.get('path')}\n{app.get('path')}\n{site_key(site)}")


def _location(site: ConfigElement, app: ConfigElement, vdir: ConfigElement) -> str:
    app_path = str(app.get("path"))
    vdir_path = str(vdir.get("path"))
    prefix = "" if app_path == "/" else app_path
    return f"{site.get('name')}{prefix}{'' if vdir_path == '/' and prefix else vdir_path}"


def _identity(ctx: Ctx, item: Item) -> dict[str, str]:
    logon = str(item[2].get("logonMethod"))
    json_logon = next((k for k, v in LOGON.items() if v.lower() == logon.lower()), "network_cleartext")
    return {"username": str(item[2].get("userName") or ""), "logon_method": json_logon}


GETTERS: dict[str, Any] = {
    "location": lambda ctx, i: _location(*i),
    "path": lambda ctx, i: str(i[2].get("path")),
    "id": lambda ctx, i: vdir_id(ctx, *i),
    "physical_path": lambda ctx, i: str(i[2].get("physicalPath") or ""),
    "identity": _identity,
    "webapp": lambda ctx, i: app_nested(ctx, i[0], i[1]),
    "website": lambda ctx, i: site_nested(ctx, i[0]),
}


def find_vdir(ctx: Ctx, resource_id: str) -> Item:
    """The (site, app, vdir) behind an id; 404 when any is gone."""
    vdir_path, app_path, key = ctx.codec.decode_parts(Purpose.VDIR, resource_id, 3)
    site = ctx.index.site(int(key)) if key.isdigit() else None
    app = site.collection().find(path=app_path) if site is not None else None
    vdir = app.collection().find(path=vdir_path) if app is not None else None
    if site is None or app is None or vdir is None:
        raise NotFound(name="virtual_directory")
    return site, app, vdir


def _select(ctx: Ctx, request: web.Request) -> list[Item]:
    query = request.query
    if "webapp.id" in query:
        site, app = find_app(ctx, query["webapp.id"])
        return [(site, app, vdir) for vdir in app.collection()]
    if "website.id" in query:
        site = find_site(ctx, query["website.id"])
        return [(site, app, vdir) for app in site.collection() for vdir in app.collection()]
    if "scope" in query:
        site, app = app_from_scope(ctx, query["scope"])
        return [(site, app, vdir) for vdir in app.collection()]
    raise NotFound(name="website", detail="Select the directories with website.id, webapp.id or scope.")


def _parent(ctx: Ctx, request: web.Request, body: dict[str, Any]) -> tuple[ConfigElement, ConfigElement]:
    if "webapp" in body and body["webapp"] is not None and not isinstance(body["webapp"], dict):
        raise InvalidParameter("webapp")
    app_id = reference_id(body, "webapp") or request.query.get("webapp.id")
    if app_id:
        return find_app(ctx, app_id)
    site_id = reference_id(body, "website") or request.query.get("website.id")
    if site_id:
        site = find_site(ctx, site_id)
        root = site.collection().find(path="/")
        if root is None:
            raise NotFound(name="webapp")
        return site, root
    scope = body.get("scope") or request.query.get("scope")
    if isinstance(scope, str) and scope:
        return app_from_scope(ctx, scope)
    raise InvalidParameter("site/application")


def _validate(ctx: Ctx, body: dict[str, Any], app: ConfigElement, vdir: ConfigElement | None) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    if body.get("path") is not None or vdir is None:
        path = parse_path(body.get("path"))
        other = app.collection().find(path=path)
        if other is not None and (vdir is None or other.element is not vdir.element):
            raise AlreadyExists("path")
        plan["path"] = path
    if body.get("physical_path") is not None or vdir is None:
        plan["physical_path"] = validate_physical_path(
            ctx, body.get("physical_path"), missing_status=400 if vdir is None else 404
        )
    identity = body.get("identity")
    if identity is not None:
        if not isinstance(identity, dict):
            raise InvalidParameter("model.identity", "Expected object")
        if isinstance(identity.get("logon_method"), str):
            if identity["logon_method"].lower() not in LOGON:
                raise InvalidParameter("logon_method")
            plan["logon"] = LOGON[identity["logon_method"].lower()]
        if isinstance(identity.get("username"), str):
            plan["username"] = identity["username"]
        if isinstance(identity.get("password"), str):
            plan["password"] = identity["password"]
    return plan


def _apply(ctx: Ctx, vdir: ConfigElement, plan: dict[str, Any]) -> None:
    if "path" in plan:
        vdir.set("path", plan["path"])
    if "physical_path" in plan:
        vdir.set("physicalPath", plan["physical_path"])
    if "logon" in plan:
        vdir.set("logonMethod", plan["logon"])
    if plan.get("username") == "":
        vdir.unset("userName")
        vdir.unset("password")
    elif "username" in plan:
        vdir.set("userName", plan["username"])
    if plan.get("password") and plan.get("username") != "":
        vdir.set("password", ctx.secrets.seal(plan["password"]))


class VirtualDirectories(CrudMixin[Item]):
    """/api/webserver/virtual-directories[?website.id= | webapp.id= | scope=]."""

    path = VDIRS_PATH
    resource = RESOURCE
    list_resource = "Microsoft.WebServer.VirtualDirectories"
    list_key = "virtual_directories"
    ref_fields = REF_FIELDS
    getters = GETTERS
    purpose = Purpose.VDIR
    cache_sections = (model_cache.SITES,)
    live = frozenset({"website"})
    id_parts = 3

    def item_id(self, ctx: Ctx, item: Item) -> str:
        return vdir_id(ctx, *item)

    def find(self, ctx: Ctx, resource_id: str) -> Item:
        return find_vdir(ctx, resource_id)

    def links(self, ctx: Ctx, item: Item) -> dict[str, str]:
        return {"self": f"{VDIRS_PATH}/{vdir_id(ctx, *item)}"}

    def select(self, ctx: Ctx, request: web.Request) -> list[Item]:
        return _select(ctx, request)

    def create_item(self, ctx: Ctx, request: web.Request, body: dict[str, Any]) -> Item:
        site, app = _parent(ctx, request, body)
        plan = _validate(ctx, body, app, None)
        vdir = app.collection().add({"path": plan["path"]})
        _apply(ctx, vdir, plan)
        return site, app, vdir

    async def update_item(self, ctx: Ctx, item: Item, body: dict[str, Any]) -> None:
        _apply(ctx, item[2], _validate(ctx, body, item[1], item[2]))


VDIRS = VirtualDirectories()
list_vdirs, get_vdir, create_vdir, update_vdir, delete_vdir = VDIRS.handlers("vdir", "vdirs")
