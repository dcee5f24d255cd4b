"""POST /api/files/copy and /api/files/move: 202 and a job resource that answers 200 while it runs.

A finished job answers 404, as upstream; a failed one answers its problem body (for example 507 when the
disk filled up) for agent.files.operations.FAILED_RETENTION seconds, then 404.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from aiohttp import web

from agent.api.http import json_response, read_json
from agent.api.middleware import problem_response
from agent.api.resources.file_models import FILES_PATH, FilesCtx, files_context, ref
from agent.api.resources.files import reference
from agent.files.errors import InsufficientStorage
from agent.files.info import file_info, iso_date
from agent.files.operations import Operation
from agent.files.paths import normalize, require_read, require_write, valid_name
from agent.files.transfers import tree_size
from shared.errors import AlreadyExists, InvalidParameter, NotAllowed, NotFound


def _model(ctx: FilesCtx, op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": op.id,
        "status": "running",
        "created": iso_date(op.created),
        "current_size": op.current_size,
        "total_size": op.total_size,
        "file": ref(ctx, file_info(op.target)),
    }
    if ctx.hal:
        # Upstream quirk kept: a move's self link also points at the copy route (the Location header is right).
        body["_links"] = {"self": {"href": f"{FILES_PATH}/copy/{op.id}"}}
    return body


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _plan(ctx: FilesCtx, kind: str, body: dict[str, Any]) -> tuple[str, str]:
    """Validate a copy/move body and return (source, target) after every 400/403/404/409 check."""
    source = ctx.path_of(reference(body, "file"))
    parent = ctx.path_of(reference(body, "parent"))
    name = body.get("name")
    if name is None:
        name = os.path.basename(source)
    if not isinstance(name, str) or not valid_name(name.strip()):
        raise InvalidParameter("name")
    target = normalize(os.path.join(parent, name.strip()))
    (require_write if kind == "move" else require_read)(ctx.locations, source)
    require_write(ctx.locations, parent)
    require_write(ctx.locations, target)
    src = file_info(source)
    if not src.exists:
        raise NotFound(name="file")
    if not os.path.isdir(parent):
        raise NotFound(name="parent")
    if _inside(target, source):
        raise InvalidParameter("parent", "The destination folder is a subfolder of the source")
    # Never overwrite or merge into what is there: a failed or repeated copy must not half-replace content.
    if os.path.lexists(target):
        raise AlreadyExists("name", "The destination already exists; delete it or choose another name.")
    return source, target


def _free_space_check(kind: str, source: str, target: str, total: int) -> None:
    """Refuse up front (507) when the target file system cannot hold the copy; a same-disk move needs no space."""
    parent = os.path.dirname(target)
    if kind == "move" and os.stat(source).st_dev == os.stat(parent).st_dev:
        return
    if total > shutil.disk_usage(parent).free:
        raise InsufficientStorage(name=target, detail=f"{total} bytes are needed; the disk has less free space.")


async def _start(request: web.Request, kind: str) -> web.StreamResponse:
    body = await read_json(request)
    ctx = files_context(request)
    source, target = _plan(ctx, kind, body)
    total = await asyncio.to_thread(tree_size, source)
    await asyncio.to_thread(_free_space_check, kind, source, target, total)
    op = ctx.runtime.operations.start(kind, source, target, total)
    location = f"{FILES_PATH}/{kind}/{op.id}"
    return json_response(request, _model(ctx, op), status=202, location=location)


async def start_copy(request: web.Request) -> web.StreamResponse:
    """POST /api/files/copy."""
    return await _start(request, "copy")


async def start_move(request: web.Request) -> web.StreamResponse:
    """POST /api/files/move."""
    return await _start(request, "move")


async def get_operation(request: web.Request) -> web.StreamResponse:
    """GET /api/files/copy/{id} (or /move/{id}): 200 while running, the error once failed, else 404."""
    ctx = files_context(request)
    op = ctx.runtime.operations.get(request.match_info["id"])
    if op is None or not request.path.startswith(f"{FILES_PATH}/{op.kind}/"):
        raise NotFound()
    if op.error is not None:
        return problem_response(op.error)
    if op.finished is not None:
        raise NotFound()
    return json_response(request, _model(ctx, op))


async def not_allowed(request: web.Request) -> web.StreamResponse:
    """Methods upstream answers with 405 on the copy/move collections."""
    raise NotAllowed()
