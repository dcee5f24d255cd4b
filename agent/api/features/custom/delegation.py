"""Feature delegation: the override mode of every system.webServer section at a scope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.features.spec import FeatureSpec
from agent.api.features.target import Target, check_config_scope, from_query
from agent.api.http import json_response, nested_json, read_json
from agent.ids import Purpose
from agent.iisconfig.document import first_child
from agent.iisconfig.locks import MODES
from shared.errors import InvalidParameter, Locked, NotFound

PATH = "/api/webserver/feature-delegation"
PREFIX = "system.webServer/"
RESOURCE = "Microsoft.WebServer.DelegationSection"
SPEC = FeatureSpec(endpoint="feature-delegation", link="delegation", resource=RESOURCE,
                   purpose=Purpose.DELEGATION_SECTION, sections=(), server_default=True, id_has_local=False)


def section_names(ctx: Ctx) -> list[str]:
    """Every section registered under system.webServer in <configSections>, recursively."""
    root = first_child(ctx.store.document.root, "configSections")
    group = None
    if root is not None:
        group = next((g for g in root.iterchildren("sectionGroup") if g.get("name") == "system.webServer"), None)
    names: list[str] = []

    def walk(element: Any, prefix: str) -> None:
        for child in element.iterchildren("section", "sectionGroup"):
            name = f"{prefix}{child.get('name')}"
            if child.tag == "section":
                names.append(name)
            else:
                walk(child, name + "/")

    if group is not None:
        walk(group, PREFIX)
    return names


def _id(target: Target, name: str) -> str:
    segments = len(target.location.split("/")) if target.location else 0
    plain = f"{name.removeprefix(PREFIX)}\n{target.path}\n{target.site_key}\n{segments}"
    return target.ctx.codec.encode(Purpose.DELEGATION_SECTION, plain)


def _render(target: Target, name: str, *, full: bool) -> dict[str, Any]:
    store = target.ctx.store
    out: dict[str, Any] = {"name": name, "id": _id(target, name), "scope": target.scope}
    if full:
        out["config_scope"] = target.location
    out["override_mode"] = store.override_mode(name, target.location)
    out["override_mode_effective"] = store.effective_override_mode(name, target.location)
    if full:
        out["website"] = nested_json(target.website(), target.ctx.fields.sub("website"))
    if target.ctx.hal:
        out["_links"] = {"self": {"href": f"{PATH}/{out['id']}"}}
    return out


def _decode(ctx: Ctx, section_id: str) -> tuple[Target, str]:
    name, path, key, _segments = ctx.codec.decode_parts(Purpose.DELEGATION_SECTION, section_id, 4)
    site = None
    if key:
        site = ctx.index.site(int(key)) if key.isdigit() else None
        if site is None:
            raise NotFound(name="site")
    return Target(ctx, SPEC, site, path if site is not None else ""), PREFIX + name


async def list_sections(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/feature-delegation[?scope=|website.id=|webapp.id=] (200, no scope = server)."""
    ctx = context(request)
    target = from_query(ctx, SPEC, request)
    items = [_render(target, name, full=False) for name in section_names(ctx)]
    return json_response(request, {"sections": items}, resource="Microsoft.WebServer.DelegationSections")


async def get_section(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/feature-delegation/{id}."""
    target, name = _decode(context(request), request.match_info["id"])
    return json_response(request, _render(target, name, full=True), resource=RESOURCE)


async def update_section(request: web.Request) -> web.StreamResponse:
    """PATCH {override_mode}: set the section's mode at the id's level."""
    ctx = context(request)
    body = await read_json(request)
    target, name = _decode(ctx, request.match_info["id"])
    check_config_scope(target, body, request)
    mode = body.get("override_mode")
    if mode is not None:
        if not isinstance(mode, str) or mode.strip().lower() not in MODES:
            raise InvalidParameter("override_mode")
        if target.location and ctx.store.effective_override_mode(name, target.location.rpartition("/")[0]) == "deny":
            raise Locked(name=name)
        if ctx.store.override_mode(name, target.location) != mode.strip().lower():
            async with ctx.store.write() as store:
                store.set_override_mode(name, target.location, mode)
    return json_response(request, _render(target, name, full=True), resource=RESOURCE)
