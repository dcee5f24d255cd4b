"""/api/files/locations: edit `files.locations` in appsettings.json; changes apply at once, without a restart."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from agent.api.http import STATUS_ID_CHANGED, json_response, read_json
from agent.api.resources.file_models import FILES_PATH, FilesCtx, files_context
from agent.files.paths import normalize, valid_name
from agent.files.settings_store import write_locations
from agent.settings import FileLocation
from shared.errors import AlreadyExists, Forbidden, InvalidParameter, NotFound
from shared.paths import expand_path

LOCATIONS_PATH = FILES_PATH + "/locations"
RESOURCE = "Microsoft.IIS.Administration.Files.Locations"
CLAIMS = ("read", "write")


def _expanded(location: FileLocation) -> str:
    return normalize(expand_path(location.path))


def _id(ctx: FilesCtx, location: FileLocation) -> str:
    return ctx.file_id(_expanded(location))


def _model(ctx: FilesCtx, location: FileLocation) -> dict[str, Any]:
    lid = _id(ctx, location)
    body: dict[str, Any] = {"alias": location.alias, "id": lid, "path": location.path, "claims": list(location.claims)}
    if ctx.hal:
        body["_links"] = {"directory": {"href": f"{FILES_PATH}/{lid}"}, "self": {"href": f"{LOCATIONS_PATH}/{lid}"}}
    return body


def _ordered(ctx: FilesCtx) -> list[FileLocation]:
    return sorted(ctx.settings.files.locations, key=lambda loc: len(_expanded(loc)), reverse=True)


def _find(ctx: FilesCtx, location_id: str) -> FileLocation:
    wanted = ctx.path_of(location_id)
    for location in ctx.settings.files.locations:
        if _expanded(location) == wanted:
            return location
    raise NotFound(name="location")


def _parse(body: dict[str, Any], base: FileLocation | None) -> FileLocation:
    """The location a POST (base None) or PATCH body describes, with upstream's 400s."""
    alias = base.alias if base else ""
    if body.get("alias") is not None:
        if not isinstance(body["alias"], str) or (body["alias"] and not valid_name(body["alias"])):
            raise InvalidParameter("alias")
        alias = body["alias"]
    path = base.path if base else None
    if body.get("path") is not None or base is None:
        if not isinstance(body.get("path"), str) or not body["path"].strip():
            raise InvalidParameter("path")
        path = body["path"]
    assert path is not None
    if not os.path.isabs(expand_path(path)):
        raise InvalidParameter("path", "The path must be absolute.")
    claims = list(base.claims) if base else None
    if "claims" in body or base is None:
        raw = body.get("claims")
        if raw is None:
            raise InvalidParameter("claims")
        if not isinstance(raw, list):
            raise InvalidParameter("claims", "Expected array")
        if any(not isinstance(c, str) or c.lower() not in CLAIMS for c in raw):
            raise InvalidParameter("claim")
        claims = sorted({c.lower() for c in raw}, key=CLAIMS.index)
    return FileLocation(alias=alias, path=path, claims=claims or [])


def _check_unique(ctx: FilesCtx, new: FileLocation, old: FileLocation | None) -> None:
    for other in ctx.settings.files.locations:
        if other is old:
            continue
        if new.alias and other.alias.lower() == new.alias.lower():
            raise AlreadyExists("alias")
        if other.path.lower() == new.path.lower():
            raise AlreadyExists("path")


def _ensure_directory(location: FileLocation) -> None:
    if not location.claims:
        return
    path = _expanded(location)
    try:
        os.makedirs(path, exist_ok=True)
    except FileNotFoundError as err:
        raise NotFound(name="path") from err
    except PermissionError as err:
        raise Forbidden(name="path") from err


async def _save(ctx: FilesCtx, locations: list[FileLocation]) -> None:
    """Write appsettings.json, then swap the section into the settings and the live claim table."""
    section = await asyncio.to_thread(write_locations, ctx.runtime.state_dir, locations, ctx.settings.files)
    ctx.settings.files = section
    ctx.locations.update(section)


async def list_locations(request: web.Request) -> web.StreamResponse:
    """GET /api/files/locations (longest path first, no X-Total-Count)."""
    ctx = files_context(request)
    body = {"locations": [_model(ctx, loc) for loc in _ordered(ctx)]}
    return json_response(request, body, resource=RESOURCE)


async def get_location(request: web.Request) -> web.StreamResponse:
    """GET /api/files/locations/{id}."""
    ctx = files_context(request)
    return json_response(request, _model(ctx, _find(ctx, request.match_info["id"])), resource=RESOURCE)


async def create_location(request: web.Request) -> web.StreamResponse:
    """POST /api/files/locations: 201; the directory is created when the location grants a claim."""
    body = await read_json(request)
    ctx = files_context(request)
    async with ctx.runtime.settings_lock:
        location = _parse(body, None)
        _check_unique(ctx, location, None)
        await asyncio.to_thread(_ensure_directory, location)
        await _save(ctx, [*ctx.settings.files.locations, location])
    return json_response(request, _model(ctx, location), status=201, resource=RESOURCE,
                         location=f"{LOCATIONS_PATH}/{_id(ctx, location)}")


async def update_location(request: web.Request) -> web.StreamResponse:
    """PATCH /api/files/locations/{id}: 209 + Location when the path (and so the id) changed."""
    body = await read_json(request)
    ctx = files_context(request)
    old_id = request.match_info["id"]
    async with ctx.runtime.settings_lock:
        old = _find(ctx, old_id)
        location = _parse(body, old)
        _check_unique(ctx, location, old)
        await asyncio.to_thread(_ensure_directory, location)
        await _save(ctx, [location if loc is old else loc for loc in ctx.settings.files.locations])
    new_id = _id(ctx, location)
    changed = new_id != old_id
    return json_response(request, _model(ctx, location), status=STATUS_ID_CHANGED if changed else 200,
                         resource=RESOURCE, location=f"{LOCATIONS_PATH}/{new_id}" if changed else None)


async def delete_location(request: web.Request) -> web.StreamResponse:
    """DELETE /api/files/locations/{id}: 204 also when absent; the directory itself stays."""
    ctx = files_context(request)
    wanted = ctx.path_of(request.match_info["id"])
    async with ctx.runtime.settings_lock:
        kept = [loc for loc in ctx.settings.files.locations if _expanded(loc) != wanted]
        if len(kept) != len(ctx.settings.files.locations):
            await _save(ctx, kept)
    return web.Response(status=204)
