"""Download links: POST /api/files/downloads makes one; /downloads/{id} serves the file without a token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.http import read_json
from agent.api.resources.file_content import stream_file
from agent.api.resources.file_models import FILES_PATH, files_context
from agent.api.resources.files import reference
from agent.files.downloads import DEFAULT_TTL_MS
from agent.files.info import file_info
from agent.files.paths import require_read
from shared.errors import InvalidParameter, NotAllowed, NotFound

DOWNLOADS_PATH = FILES_PATH + "/downloads"
PUBLIC_PATH = "/downloads"


def _ttl(body: dict[str, Any]) -> int:
    raw = body.get("ttl")
    if raw is None:
        return DEFAULT_TTL_MS
    try:
        ttl = int(str(raw).strip()) if not isinstance(raw, bool) else -1
    except ValueError as err:
        raise InvalidParameter("ttl") from err
    if ttl < 0:
        raise InvalidParameter("ttl")
    return ttl


async def create_download(request: web.Request) -> web.StreamResponse:
    """POST /api/files/downloads: 201, empty body, `Location: /downloads/{id}`."""
    body = await read_json(request)
    ctx = files_context(request)
    path = ctx.path_of(reference(body, "file"))
    ttl = _ttl(body)
    require_read(ctx.locations, path)
    if not file_info(path).is_file:
        raise NotFound(name=path)
    link = ctx.runtime.downloads.create(path, ttl)
    return web.Response(status=201, headers={"Location": f"{PUBLIC_PATH}/{link.id}", "Pragma": "attachment"})


async def downloads_not_allowed(request: web.Request) -> web.StreamResponse:
    """GET/HEAD/PATCH/PUT /api/files/downloads: 405, as upstream."""
    raise NotAllowed()


async def serve_download(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /downloads/{id}: the file, until the link expires (then 404)."""
    ctx = files_context(request)
    link = ctx.runtime.downloads.get(request.match_info["id"])
    # Claims are checked again: a location edit since the link was made applies to it too.
    if link is None or not ctx.locations.can_read(link.path):
        raise NotFound()
    info = file_info(link.path)
    if not info.is_file:
        raise NotFound()
    disposition = "inline" if "inline" in request.query else "attachment"
    return await stream_file(request, ctx, info, disposition)


async def delete_download(request: web.Request) -> web.StreamResponse:
    """DELETE /downloads/{id}: 204; the link stops working at once."""
    files_context(request).runtime.downloads.delete(request.match_info["id"])
    return web.Response(status=204)
