"""Content-addressed version builds (IIS Fleet extension; see docs/compatibility.md and agent/files/versions.py).

    POST /api/files/version-builds
        {"parent": {"id"}, "name": "<new directory>", "base": {"id"} | null,
         "manifest": {"files": [{"path", "size", "mode", "sha256"}], "directories": ["<path>"]}}
        -> 201 {"id": <build id>, "name", "missing": [paths], "linked": n, "linked_bytes": n}
    PUT /api/files/version-builds/{id}     body: an uncompressed tar of exactly the missing files
        -> 201 the new directory's /api/files model (Location too)

Claims as for archive-extract: write on the parent and the new directory, read on the base, which must be a
directory in the same parent (hard links stay within one folder, and one file system). Paths are checked
after resolving `..` and symbolic links.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import queue
import tarfile
from pathlib import Path

from aiohttp import web

from agent.api.http import json_response, read_json
from agent.api.resources.file_models import FILES_PATH, RESOURCE, files_context, model
from agent.api.resources.files import reference
from agent.files import versions
from agent.files.errors import os_error
from agent.files.info import file_info
from agent.files.paths import STAGING_PREFIX, require_read, require_write, valid_name
from shared import archives
from shared.errors import AlreadyExists, InvalidParameter, NotFound

BUILDS = FILES_PATH + "/version-builds"
RECORDS = "version-records"
QUEUED_BLOCKS = 16
"""How many received blocks wait for the writing thread at most (back-pressure on the sender)."""


def _records(state_dir: Path) -> Path:
    return state_dir / RECORDS


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _build_name(staging: str) -> str:
    """The version name of a staging folder, or "" when it is not a planned build."""
    prefix = f"{STAGING_PREFIX}build-"
    hidden = os.path.basename(staging)
    name = hidden[len(prefix) :] if hidden.startswith(prefix) else ""
    if not valid_name(name) or not os.path.isdir(staging) or os.path.islink(staging):
        return ""
    return name


def _real_dir(path: str, name: str) -> str:
    real = os.path.realpath(path)
    if not os.path.isdir(real):
        raise NotFound(name=name)
    return real


async def plan_build(request: web.Request) -> web.StreamResponse:
    """POST /api/files/version-builds."""
    body = await read_json(request)
    ctx = files_context(request)
    parent = _real_dir(ctx.path_of(reference(body, "parent")), "parent")
    name = body["name"].strip() if isinstance(body.get("name"), str) else ""
    if not valid_name(name) or name.startswith(STAGING_PREFIX):
        raise InvalidParameter("name")
    base = None
    if body.get("base") is not None:
        base = _real_dir(ctx.path_of(reference(body, "base")), "base")
        if os.path.dirname(base) != parent:
            raise InvalidParameter("base", "The base version must be a directory in the same parent.")
        require_read(ctx.locations, base)
    require_write(ctx.locations, parent)
    require_write(ctx.locations, os.path.join(parent, name))
    try:
        files, dirs = versions.parse_manifest(body.get("manifest"))
    except versions.BuildRefused as err:
        raise InvalidParameter("manifest", str(err)) from err
    if _exists(os.path.join(parent, name)):
        raise AlreadyExists("name")
    records = _records(ctx.runtime.state_dir)
    try:
        answer = await asyncio.to_thread(versions.plan, records, parent, name, base, files, dirs)
    except versions.BuildRefused as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise InvalidParameter("manifest", str(err)) from err
    except OSError as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise os_error(err, parent) from err
    build_id = ctx.file_id(versions.staging_dir(parent, name))
    return json_response(request, {"id": build_id, "name": name, **answer}, status=201,
                         location=f"{BUILDS}/{build_id}")


class _Pipe(io.RawIOBase):
    """A blocking reader over blocks an event loop hands in (the tar is read in a thread as it arrives)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_BLOCKS)
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._rest:
            block = self.blocks.get()
            if block is None:
                return 0
            self._rest = memoryview(block)
        count = min(len(buffer), len(self._rest))
        buffer[:count] = self._rest[:count]
        self._rest = self._rest[count:]  # a view: no copy of what is left
        return count


async def _feed(request: web.Request, pipe: _Pipe, work: asyncio.Future[tuple[str, int]]) -> None:
    async for block in request.content.iter_any():
        if not await _hand(pipe, block, work):
            return
    await _hand(pipe, None, work)


async def _hand(pipe: _Pipe, block: bytes | None, work: asyncio.Future[tuple[str, int]]) -> bool:
    """Queue a block for the reading thread; False when that thread has stopped (a refused entry)."""
    try:
        pipe.blocks.put_nowait(block)
        return True
    except queue.Full:
        pass
    while not work.done():
        if await asyncio.to_thread(_put, pipe, block):
            return True
    return False


def _put(pipe: _Pipe, block: bytes | None) -> bool:
    # Bounded wait so the feeder notices when the reader stopped early.
    try:
        pipe.blocks.put(block, timeout=0.2)
        return True
    except queue.Full:
        return False


def _abandon(pipe: _Pipe) -> None:
    """End the stream without blocking the loop: drop queued blocks until the end mark fits."""
    while True:
        try:
            pipe.blocks.put_nowait(None)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                pipe.blocks.get_nowait()


async def receive_build(request: web.Request) -> web.StreamResponse:
    """PUT /api/files/version-builds/{id}."""
    ctx = files_context(request)
    staging = ctx.path_of(request.match_info["id"])
    name = _build_name(staging)
    if not name:
        raise NotFound(name="id")
    parent = _real_dir(os.path.dirname(staging), "id")
    require_write(ctx.locations, parent)
    require_write(ctx.locations, os.path.join(parent, name))
    records = _records(ctx.runtime.state_dir)
    pipe = _Pipe()
    work = asyncio.ensure_future(asyncio.to_thread(versions.receive, records, parent, name,
                                                   io.BufferedReader(pipe, versions.BLOCK)))
    try:
        await _feed(request, pipe, work)
        target, _received = await work
    except (versions.BuildRefused, archives.ArchiveRefused) as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise InvalidParameter("archive", f"{err}; the build was discarded.") from err
    except (tarfile.TarError, EOFError) as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise InvalidParameter("archive", f"The stream is not a complete tar: {err}") from err
    except FileExistsError as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise AlreadyExists("name") from err
    except FileNotFoundError as err:
        raise NotFound(name="id") from err
    except OSError as err:
        await asyncio.to_thread(versions.discard, records, parent, name)
        raise os_error(err, parent) from err
    finally:
        if not work.done():
            _abandon(pipe)  # the client went away: let the reading thread end
    await asyncio.to_thread(versions.prune_records, records)
    return json_response(request, model(ctx, file_info(target)), status=201, resource=RESOURCE,
                         location=f"{FILES_PATH}/{ctx.file_id(target)}")

