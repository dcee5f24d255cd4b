"""Generic handlers for any FeatureSpec: GET by scope (209 + Location), GET/PATCH/DELETE by id, POST = install."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.api import mapping
from agent.api.context import Ctx, context
from agent.api.features.spec import FeatureSpec
from agent.api.features.target import (
    GLOBAL_MODULES,
    Target,
    check_config_scope,
    check_scope_allowed,
    from_id,
    from_query,
    require_modules,
)
from agent.api.http import STATUS_ID_CHANGED, json_response, nested_json, read_json
from agent.api.routing import Handler
from agent.iisconfig.locks import MODES
from shared.errors import AlreadyExists, InvalidParameter

MODULES_SECTION = "system.webServer/modules"
HANDLERS_SECTION = "system.webServer/handlers"


def model(target: Target) -> dict[str, Any]:
    """The feature's JSON: id, scope, metadata, the mapped members, hook members, website, _links."""
    spec = target.spec
    out: dict[str, Any] = {"id": target.feature_id(), "scope": target.scope}
    if "metadata" in spec.output:
        out["metadata"] = target.metadata()
    for entry in spec.sections:
        if entry.fields:
            out.update(mapping.read(target.effective(entry.section), entry.fields))
    if spec.read is not None:
        out.update(spec.read(target))
    out["website"] = nested_json(target.website(), target.ctx.fields.sub("website"))
    if target.ctx.hal:
        links = feature_links(target)
        out["_links"] = {name: {"href": links[name]} for name in sorted(links)}
    return out


def feature_links(target: Target) -> dict[str, str]:
    """self plus one link per child collection (or the row's own links hook)."""
    spec = target.spec
    fid = target.feature_id()
    if spec.links is not None:
        return spec.links(target, fid)
    links = {"self": f"{spec.path}/{fid}"}
    for child in spec.children:
        links[child.plural] = f"{spec.path}/{child.route}?{spec.parent}.id={fid}"
    return links


def _respond(request: web.Request, target: Target, status: int = 200, location: str | None = None) -> web.Response:
    return json_response(request, model(target), status=status, resource=target.spec.resource, location=location)


def _override_mode(body: dict[str, Any]) -> str | None:
    meta = body.get("metadata")
    if not isinstance(meta, dict) or meta.get("override_mode") is None:
        return None
    mode = meta["override_mode"]
    if not isinstance(mode, str) or mode.strip().lower() not in MODES:
        raise InvalidParameter("metadata.override_mode")
    return mode.strip().lower()


@dataclass(frozen=True, slots=True)
class FeatureHandlers:
    """The aiohttp handlers of one feature row."""

    list: Handler
    get: Handler
    patch: Handler
    delete: Handler
    install: Handler


def handlers(spec: FeatureSpec) -> FeatureHandlers:
    """Build the handlers of a row (closures over the spec, so routes stay plain functions)."""

    async def get_feature(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, spec)
        target = from_query(ctx, spec, request)
        target.check_readable()
        if spec.located:
            return _respond(request, target, 209, target.href())
        return _respond(request, target)

    async def get_feature_by_id(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, spec)
        target = from_id(ctx, spec, request.match_info["id"])
        assert target is not None
        target.check_readable()
        return _respond(request, target)

    async def update_feature(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, spec)
        body = await read_json(request)
        target = from_id(ctx, spec, request.match_info["id"])
        assert target is not None
        old_id = target.feature_id()
        check_config_scope(target, body, request)
        await patch_target(target, body)
        if spec.purpose.name == "AUTHORIZATION" and target.feature_id() != old_id:
            return _respond(request, target, STATUS_ID_CHANGED, target.href())  # upstream: authorization only
        return _respond(request, target)

    async def delete_feature(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        target = from_id(ctx, spec, request.match_info["id"], missing_ok=True)
        if target is None:
            return web.Response(status=204)
        check_config_scope(target, None, request)
        if target.site is None:
            if spec.installable and installed(ctx, spec):
                async with ctx.store.write():
                    uninstall(ctx, spec)
            return web.Response(status=204)
        check_scope_allowed(target)
        async with ctx.store.write() as store:
            for entry in spec.sections:
                if entry.revert:
                    store.remove_location_section(entry.section, target.location)
        return web.Response(status=204)

    async def install_feature(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        if installed(ctx, spec):
            raise AlreadyExists(spec.install_name or spec.display)
        async with ctx.store.write():
            install(ctx, spec)
        target = Target(ctx, spec, None, "")
        return _respond(request, target, 201, target.href())

    for handler, verb in ((get_feature, "get"), (get_feature_by_id, "get_by_id"), (update_feature, "update"),
                          (delete_feature, "delete"), (install_feature, "install")):  # fmt: skip
        handler.__name__ = handler.__qualname__ = f"{verb}_{spec.endpoint.replace('/', '_').replace('-', '_')}"
    return FeatureHandlers(get_feature, get_feature_by_id, update_feature, delete_feature, install_feature)


async def patch_target(target: Target, body: dict[str, Any]) -> None:
    """Validate the whole body, then write the members, hook changes and override mode in one transaction."""
    spec = target.spec
    check_scope_allowed(target)
    mode = _override_mode(body)
    changes = [(entry, mapping.parse(body, entry.fields)) for entry in spec.sections]
    extra: Callable[[], None] | None = spec.write(target, body) if spec.write is not None else None
    if not any(c for _e, c in changes) and extra is None and mode is None:
        return
    target.check_writable()
    async with target.ctx.store.write() as store:
        for entry, parsed in changes:
            if parsed:
                mapping.apply(target.local(entry.section), parsed)
        if extra is not None:
            extra()
        if mode is not None:
            for entry in spec.sections:
                store.set_override_mode(entry.section, target.location, mode)


def installed(ctx: Ctx, spec: FeatureSpec) -> bool:
    """True when every global module of the feature is registered."""
    modules = ctx.store.section(GLOBAL_MODULES).collection()
    return all(modules.find(name=name) is not None for name in spec.modules)


def install(ctx: Ctx, spec: FeatureSpec) -> None:
    """Emulate the Windows optional feature: register its global modules and enable them at server level."""
    if spec.on_install is not None:
        spec.on_install(ctx.store)
    global_modules = ctx.store.section(GLOBAL_MODULES).collection()
    enabled = ctx.store.section(MODULES_SECTION).collection()
    for name, image in zip(spec.modules, spec.images, strict=True):
        if global_modules.find(name=name) is None:
            global_modules.add(name=name, image=f"%windir%\\System32\\inetsrv\\{image}")
        if enabled.find(name=name) is None:
            enabled.add(name=name, lockItem=True)


def uninstall(ctx: Ctx, spec: FeatureSpec) -> None:
    """Undo what installing registered at server level, as disabling the Windows feature (or the MSI) does.

    The modules leave <modules> and <globalModules>, handler mappings served by them leave <handlers>, and
    sections only the feature's installer brings lose their server-level content. Site and application
    settings stay stored (unreachable while uninstalled, as upstream answers 404), so a reinstall finds them.
    """
    for section in (MODULES_SECTION, GLOBAL_MODULES):
        collection = ctx.store.section(section).collection()
        for name in spec.modules:
            found = collection.find(name=name)
            if found is not None:
                collection.remove(found)
    mine = {name.lower() for name in spec.modules}
    handlers = ctx.store.section(HANDLERS_SECTION).collection()
    for handler in list(handlers):
        served_by = {part.strip().lower() for part in str(handler.get("modules") or "").split(",")}
        if served_by & mine:
            handlers.remove(handler)
    for section in spec.installer_sections:
        ctx.store.remove_location_section(section, "")
