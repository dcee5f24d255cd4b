"""/api/files/content/{id}: stream a file (Range, If-Range, conditional HEAD) and upload it (PUT, chunks).

Reads stream in READ_BLOCK pieces from a worker thread and uploads are written as they arrive (see
agent.files.uploads), so memory use does not grow with the file size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from email.utils import parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote

from aiohttp import web

from agent.api.resources.file_models import FILES_PATH, FilesCtx, files_context
from agent.api.resources.files import existing
from agent.files import ranges
from agent.files.errors import PreconditionFailed, os_error
from agent.files.info import FileInfo, content_type, etag, http_date
from agent.files.paths import STAGING_PREFIX
from agent.files.staging import create_staging
from agent.files.uploads import CHUNK_WRITE_BLOCK, Series, replace_target, write_stream
from shared.asyncio_utils import create_task
from shared.errors import InvalidParameter, NotFound

READ_BLOCK = 1024 * 1024


def content_headers(ctx: FilesCtx, info: FileInfo, disposition: str = "attachment") -> dict[str, str]:
    """The headers every content response carries (upstream's set, ETag unquoted)."""
    assert info.st is not None
    return {
        "Content-Type": content_type(info.name),
        "Content-Disposition": f"{disposition};filename={quote(info.name)}",
        "Accept-Ranges": "bytes",
        "Last-Modified": http_date(info.st.st_mtime),
        "ETag": etag(info.st),
        "Link": _link(ctx, info.path),
    }


def _not_modified(request: web.Request, info: FileInfo) -> bool:
    assert info.st is not None
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return if_none_match.strip() in ("*", etag(info.st))
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return int(info.st.st_mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _open_at(path: str, first: int) -> BinaryIO:
    """Open and position the file on the worker thread."""
    handle = open(path, "rb")  # closed by stream_file
    handle.seek(first)
    return handle


def _close_opened(task: asyncio.Task[BinaryIO]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().close()


async def _open_in_thread(path: str, first: int) -> BinaryIO:
    """Open on a worker thread; if the handler is cancelled meanwhile (client gone), close what the thread opens."""
    task = create_task(asyncio.to_thread(_open_at, path, first), name=f"open {path}")
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_close_opened)
        raise


async def stream_file(request: web.Request, ctx: FilesCtx, info: FileInfo, disposition: str) -> web.StreamResponse:
    """Serve a file as upstream does: 200 or 206 with `Content-Range: a-b/size`, HEAD with 304 support."""
    assert info.st is not None
    headers = content_headers(ctx, info, disposition)
    size = info.st.st_size
    first, last, status = 0, size - 1, 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header is not None and (if_range is None or if_range.strip() == headers["ETag"]):
        first, last = ranges.byte_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"{first}-{last}/{size}"
    # Upstream quirk kept: only HEAD answers 304; GET always sends the content.
    if request.method == "HEAD" and _not_modified(request, info):
        return web.Response(status=304, headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = last - first + 1
    await response.prepare(request)
    if request.method == "HEAD" or size == 0:
        return response
    handle = await _open_in_thread(info.path, first)
    try:
        remaining = last - first + 1
        while remaining > 0:
            data = await asyncio.to_thread(handle.read, min(READ_BLOCK, remaining))
            if not data:
                break  # the file shrank while being sent; the client sees a short body
            remaining -= len(data)
            await response.write(data)
    finally:
        handle.close()  # synchronous: a cancelled handler (client gone) must still release the descriptor
    await response.write_eof()
    return response


def content_file(ctx: FilesCtx, file_id: str, *, write: bool = False) -> FileInfo:
    """The regular file behind an id (a directory id is a 404)."""
    info = existing(ctx, file_id, write=write)
    if not info.is_file:
        raise NotFound(name="file")
    return info


async def get_content(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /api/files/content/{id}."""
    ctx = files_context(request)
    return await stream_file(request, ctx, content_file(ctx, request.match_info["id"]), "attachment")


def _check_preconditions(request: web.Request, info: FileInfo) -> None:
    assert info.st is not None
    tag = etag(info.st)
    if_match = request.headers.get("If-Match")
    if if_match is not None and if_match.strip() not in ("*", tag):
        raise PreconditionFailed(name="If-Match")
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() in ("*", tag):
        raise PreconditionFailed(name="If-None-Match")
    since = request.headers.get("If-Unmodified-Since")
    if since:
        try:
            limit = parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return
        if limit < int(info.st.st_mtime):
            raise PreconditionFailed(name="If-Unmodified-Since")


def _missing_response(ctx: FilesCtx, series: Series) -> web.Response:
    gaps = series.missing
    body = {
        "total": series.total,
        "received": series.received_bytes,
        "missing": [{"first": a, "last": b} for a, b in gaps],
    }
    headers = {"X-Missing-Ranges": "bytes=" + ranges.format_spans(gaps), "Link": _link(ctx, series.path)}
    return web.json_response(body, status=202, headers=headers)


def _link(ctx: FilesCtx, path: str) -> str:
    fid = ctx.file_id(path)
    return (
        f'<{FILES_PATH}/{fid}>; rel="meta"; title="file metadata", '
        f'<{FILES_PATH}/content/{fid}>; rel="self"; title="self"'
    )


async def _put_chunk(request: web.Request, ctx: FilesCtx, info: FileInfo, header: str) -> web.Response:
    total = ranges.status_query(header)
    if total is not None:
        found = await ctx.runtime.uploads.find(info.path, total)
        if found is None:
            raise NotFound(name="Content-Range", detail="No upload of this file with that total is in progress.")
        return _missing_response(ctx, found)
    first, last, total = ranges.content_range(header)
    expected = last - first + 1
    if request.content_length is not None and request.content_length != expected:
        raise InvalidParameter("Content-Length", f"Expected {expected} bytes for this Content-Range.")
    series, fd = await ctx.runtime.uploads.begin(info.path, total)
    span: tuple[int, int] | None = None
    try:
        try:
            # Counted once written; synced (with the progress record) every 64 MiB and on completion.
            written = await write_stream(fd, first, request.content.iter_any(), expected, CHUNK_WRITE_BLOCK)
        finally:
            os.close(fd)  # this writer's own descriptor (a dup of the series' open staging file)
        if written != expected:
            raise InvalidParameter("Content-Length", f"Expected {expected} bytes, received {written}.")
        span = (first, last)
    finally:
        series = await ctx.runtime.uploads.end(series, span)
    if not series.done:
        return _missing_response(ctx, series)
    return web.Response(status=200, headers={"Link": _link(ctx, info.path)})


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _put_whole(request: web.Request, ctx: FilesCtx, info: FileInfo) -> web.Response:
    staging = os.path.join(os.path.dirname(info.path), f"{STAGING_PREFIX}put-{secrets.token_hex(8)}.part")
    fd = await asyncio.to_thread(create_staging, staging)
    try:
        try:
            await write_stream(fd, 0, request.content.iter_any(), None)
        finally:
            os.close(fd)
        await asyncio.to_thread(replace_target, staging, info.path)
    except BaseException:
        await asyncio.to_thread(_discard, staging)
        raise
    return web.Response(status=200, headers={"Link": _link(ctx, info.path)})


async def put_content(request: web.Request) -> web.StreamResponse:
    """PUT /api/files/content/{id}: the whole body, or one chunk of a series (`Content-Range`)."""
    ctx = files_context(request)
    info = content_file(ctx, request.match_info["id"], write=True)
    _check_preconditions(request, info)
    header = request.headers.get("Content-Range")
    try:
        if header is not None:
            return await _put_chunk(request, ctx, info, header)
        return await _put_whole(request, ctx, info)
    except OSError as err:
        raise os_error(err, info.path) from err
