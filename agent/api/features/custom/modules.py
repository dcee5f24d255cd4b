"""Modules: enabling a native module takes its precondition from <globalModules>; global modules themselves."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api import mapping
from agent.api.context import Ctx, context
from agent.api.features.target import GLOBAL_MODULES, Target
from agent.api.http import json_response, list_response, read_json
from agent.api.mapping import Attr, Str
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from shared.errors import AlreadyExists, InvalidParameter, NotFound

PATH = "/api/webserver/global-modules"
RESOURCE = "Microsoft.WebServer.GlobalModule"
MODULES = "system.webServer/modules"
FIELDS = (Attr("name", "name", Str()), Attr("image", "image", Str()), Attr("precondition", "preCondition", Str()))


def module_create(target: Target, attrs: dict[str, Any]) -> dict[str, Any]:
    """A module without `type` is native: it must be a global module, whose precondition it takes."""
    name = str(attrs.get("name") or "")
    if not name:
        raise InvalidParameter("name")
    if attrs.get("type"):
        if target.ctx.store.section(GLOBAL_MODULES).collection().find(name=name) is not None:
            raise InvalidParameter("name", "Module already exists")
        return attrs
    native = target.ctx.store.section(GLOBAL_MODULES).collection().find(name=name)
    if native is None:
        raise NotFound(name="name")
    return {"name": name, "preCondition": str(native.get("preCondition") or "")}


def _id(ctx: Ctx, module: ConfigElement) -> str:
    return ctx.codec.encode(Purpose.GLOBAL_MODULE, str(module.get("name")))


def _render(ctx: Ctx, module: ConfigElement, *, full: bool) -> dict[str, Any]:
    values = {**mapping.read(module, FIELDS), "id": _id(ctx, module)}
    names = ctx.fields.names(values, values if full else ("name", "id"))
    out = {name: values[name] for name in names}
    if ctx.hal:
        out["_links"] = {"self": {"href": f"{PATH}/{values['id']}"}}
    return out


def _find(ctx: Ctx, module_id: str) -> ConfigElement:
    found = ctx.store.section(GLOBAL_MODULES).collection().find(name=ctx.codec.decode(Purpose.GLOBAL_MODULE, module_id))
    if found is None:
        raise NotFound(name="global_module")
    return found


async def list_global_modules(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/global-modules (server level only)."""
    ctx = context(request)
    if request.query.get("scope", "").strip("/") or "website.id" in request.query or "webapp.id" in request.query:
        raise NotFound()
    items = [_render(ctx, m, full=False) for m in ctx.store.section(GLOBAL_MODULES).collection()]
    return list_response(request, "global_modules", items, resource="Microsoft.WebServer.GlobalModules")


async def get_global_module(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/global-modules/{id}."""
    ctx = context(request)
    return json_response(request, _render(ctx, _find(ctx, request.match_info["id"]), full=True), resource=RESOURCE)


async def create_global_module(request: web.Request) -> web.StreamResponse:
    """POST: register a native module image (not enabled in <modules> until an entry is added)."""
    ctx = context(request)
    body = await read_json(request)
    for name in ("name", "image"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise InvalidParameter(name)
    name = body["name"].strip()
    if ctx.store.section(GLOBAL_MODULES).collection().find(name=name) is not None \
            or ctx.store.section(MODULES).collection().find(name=name) is not None:  # fmt: skip
        raise AlreadyExists("module.name")
    attrs = {"name": name, "image": body["image"]}
    if isinstance(body.get("precondition"), str) and body["precondition"]:
        attrs["preCondition"] = body["precondition"]
    async with ctx.store.write() as store:
        store.section(GLOBAL_MODULES).collection().add(attrs)
    out = _render(ctx, _find(ctx, ctx.codec.encode(Purpose.GLOBAL_MODULE, name)), full=True)
    return json_response(request, out, status=201, resource=RESOURCE, location=f"{PATH}/{out['id']}")


async def update_global_module(request: web.Request) -> web.StreamResponse:
    """PATCH: `image` and `precondition`."""
    ctx = context(request)
    body = await read_json(request)
    module = _find(ctx, request.match_info["id"])
    changes = mapping.parse(body, FIELDS[1:])
    async with ctx.store.write() as store:
        found = store.section(GLOBAL_MODULES).collection().find(name=str(module.get("name")))
        if found is not None:
            mapping.apply(found, changes)
    out = _render(ctx, _find(ctx, request.match_info["id"]), full=True)
    return json_response(request, out, resource=RESOURCE)


async def delete_global_module(request: web.Request) -> web.StreamResponse:
    """DELETE: drop the server-level <modules> entry of the same name, then the global module."""
    ctx = context(request)
    name = ctx.codec.decode(Purpose.GLOBAL_MODULE, request.match_info["id"])
    async with ctx.store.write() as store:
        for section in (MODULES, GLOBAL_MODULES):
            collection = store.section(section).collection()
            found = collection.find(name=name)
            if found is not None:
                collection.remove(found)
    return web.Response(status=204)
