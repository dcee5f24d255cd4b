"""/api/files: location roots, directory listings, file and directory metadata, create, rename, delete."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from aiohttp import web

from agent.api.http import STATUS_ID_CHANGED, json_response, read_json
from agent.api.resources.file_models import (
    FILES_PATH,
    RESOURCE,
    RESOURCES,
    FilesCtx,
    files_context,
    list_item,
    model,
)
from agent.files import info as finfo
from agent.files import ranges
from agent.files.info import FileInfo, file_info
from agent.files.paths import (
    INVALID_NAME_CHARS,
    is_hidden,
    normalize,
    require_read,
    require_write,
    valid_name,
)
from shared.errors import AlreadyExists, InvalidParameter, NotFound
from shared.paths import expand_path

DATE_MEMBERS = ("created", "last_access", "last_modified")


def reference(body: dict[str, Any], member: str) -> str:
    """The `id` of a required `{member: {"id": ...}}` reference, with upstream's 400s."""
    if member not in body or body[member] is None:
        raise InvalidParameter(member)
    if not isinstance(body[member], dict):
        raise InvalidParameter(member, "Expected object")
    ref_id = body[member].get("id")
    if not isinstance(ref_id, str) or not ref_id:
        raise InvalidParameter(f"{member}.id")
    return ref_id


def _name_filter(request: web.Request) -> str | None:
    text = request.query.get("name")
    if text and set(text) & INVALID_NAME_CHARS:
        raise InvalidParameter("name")
    return text.lower() if text else None


def _paged(request: web.Request, ctx: FilesCtx, infos: list[FileInfo]) -> web.StreamResponse:
    items, content_range = ranges.page(infos, request.headers.get("Range"))
    headers = {"X-Total-Count": str(len(items)), "Accept-Ranges": "files"}
    if content_range:
        headers["Content-Range"] = content_range
    body = {"files": [list_item(ctx, item) for item in items]}
    return json_response(request, body, resource=RESOURCES, headers=headers)


def _children(ctx: FilesCtx, directory: str, name: str | None) -> list[FileInfo]:
    """Readable sub-directories, then files, each by name; hidden entries and unreadable link targets left out."""
    if not os.path.isdir(directory):
        raise NotFound(name="parent.id")
    dirs: list[FileInfo] = []
    files: list[FileInfo] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if is_hidden(entry.name) or (name and name not in entry.name.lower()):
                continue
            if not ctx.locations.can_read(entry.path):
                continue  # a link whose target is outside every location, or a location without claims
            item = file_info(entry.path)
            (dirs if item.is_dir else files if item.is_file else []).append(item)
    key = lambda item: item.name.lower()  # noqa: E731
    return sorted(dirs, key=key) + sorted(files, key=key)


def _roots(ctx: FilesCtx, name: str | None) -> list[FileInfo]:
    out = []
    for location in ctx.settings.files.locations:
        path = normalize(expand_path(location.path))
        if ctx.locations.can_read(path) and (not name or name in os.path.basename(path).lower()):
            out.append(file_info(path))
    return out


async def list_files(request: web.Request) -> web.StreamResponse:
    """GET /api/files[?parent.id=|?physical_path=][&name=]: roots, a directory's children, or one item."""
    ctx = files_context(request)
    if "physical_path" in request.query:
        return await _by_physical_path(ctx, request.query["physical_path"])
    name = _name_filter(request)
    parent_id = request.query.get("parent.id")
    if not parent_id:
        return _paged(request, ctx, await asyncio.to_thread(_roots, ctx, name))
    directory = ctx.path_of(parent_id)
    require_read(ctx.locations, directory)
    return _paged(request, ctx, await asyncio.to_thread(_children, ctx, directory, name))


async def _by_physical_path(ctx: FilesCtx, raw: str) -> web.StreamResponse:
    expanded = expand_path(raw)
    if not raw or not os.path.isabs(expanded):
        raise InvalidParameter("physical_path")
    path = normalize(expanded)
    require_read(ctx.locations, path)
    info = file_info(path)
    if not info.exists:
        raise NotFound(name="physical_path")
    return json_response(ctx.request, model(ctx, info), resource=RESOURCE)


def existing(ctx: FilesCtx, file_id: str, *, write: bool = False) -> FileInfo:
    """The item behind an id after the claim check (403 before 404, so nothing leaks about outside paths)."""
    path = ctx.path_of(file_id)
    (require_write if write else require_read)(ctx.locations, path)
    info = file_info(path)
    if not info.exists:
        raise NotFound(name="file")
    return info


async def get_file(request: web.Request) -> web.StreamResponse:
    """GET /api/files/{id}."""
    ctx = files_context(request)
    return json_response(request, model(ctx, existing(ctx, request.match_info["id"])), resource=RESOURCE)


def _times(body: dict[str, Any]) -> dict[str, float]:
    out = {}
    for member in DATE_MEMBERS:
        if body.get(member) is not None:
            try:
                out[member] = finfo.parse_date(body[member], member)
            except ValueError as err:
                raise InvalidParameter(member) from err
    return out


def _set_times(path: str, times: dict[str, float]) -> None:
    # Linux keeps no settable creation time; `created` is accepted and ignored (docs/compatibility.md).
    if "last_access" in times or "last_modified" in times:
        st = os.stat(path)
        os.utime(path, (times.get("last_access", st.st_atime), times.get("last_modified", st.st_mtime)))


def _create(parent: str, target: str, kind: str, times: dict[str, float]) -> None:
    if not os.path.isdir(parent):
        raise NotFound(name="parent")
    try:
        if kind == "directory":
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError as err:
        raise AlreadyExists("name") from err
    _set_times(target, times)


async def create_file(request: web.Request) -> web.StreamResponse:
    """POST /api/files: a new empty file or directory."""
    body = await read_json(request)
    ctx = files_context(request)
    parent = ctx.path_of(reference(body, "parent"))
    name = body["name"].strip() if isinstance(body.get("name"), str) else ""
    if not valid_name(name):
        raise InvalidParameter("model.name")
    kind = body["type"].lower() if isinstance(body.get("type"), str) else ""
    if kind not in ("file", "directory"):
        raise InvalidParameter("model.type")
    times = _times(body)
    target = os.path.join(parent, name)
    require_write(ctx.locations, parent)
    require_write(ctx.locations, target)
    await asyncio.to_thread(_create, parent, target, kind, times)
    fid = ctx.file_id(target)
    return json_response(
        request, model(ctx, file_info(target)), status=201, resource=RESOURCE, location=f"{FILES_PATH}/{fid}"
    )


async def update_file(request: web.Request) -> web.StreamResponse:
    """PATCH /api/files/{id}: rename within the directory and/or set dates (209 when the id changed)."""
    body = await read_json(request)
    ctx = files_context(request)
    old_id = request.match_info["id"]
    item = existing(ctx, old_id, write=True)
    path = item.path
    times = _times(body)
    if body.get("name") is not None:
        name = body["name"].strip() if isinstance(body["name"], str) else ""
        if not valid_name(name):
            raise InvalidParameter("name")
        target = os.path.join(os.path.dirname(path), name)
        if target != path:
            require_write(ctx.locations, target)
            await asyncio.to_thread(_rename, path, target)
            path = target
    await asyncio.to_thread(_set_times, path, times)
    new_id = ctx.file_id(path)
    changed = new_id != old_id
    return json_response(
        request,
        model(ctx, file_info(path)),
        status=STATUS_ID_CHANGED if changed else 200,
        resource=RESOURCE,
        location=f"{FILES_PATH}/{new_id}" if changed else None,
    )


def _rename(path: str, target: str) -> None:
    if os.path.lexists(target):
        raise AlreadyExists("name")
    os.rename(path, target)


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass  # already gone: still a 204


async def delete_file(request: web.Request) -> web.StreamResponse:
    """DELETE /api/files/{id}: a file, or a directory with everything in it; 204 also when already gone."""
    ctx = files_context(request)
    path = ctx.path_of(request.match_info["id"])
    require_write(ctx.locations, path)
    await asyncio.to_thread(_remove, path)
    return web.Response(status=204)
