"""POST /api/files/archive-extract: unpack an uploaded zip or tar into a new directory (IIS Fleet extension).

Not part of upstream's API (see docs/compatibility.md). Body::

    {"archive": {"id": <file id>}, "parent": {"id": <directory id>}, "name": "<new directory>", "sha256": "..."}

The archive needs the read claim and the parent the write claim, as for the files API. Entries that would
land outside the new directory (`..`, absolute paths, drive letters), links, devices and FIFOs are refused,
as are archives past shared.archives.MAX_ENTRIES entries or MAX_BYTES unpacked. Extraction goes to a
hidden temp directory renamed into place once complete, so `name` appears complete or not at all. 201.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tarfile
import zipfile

from aiohttp import web

from agent.api.http import json_response, read_json
from agent.api.resources.file_models import FILES_PATH, RESOURCE, files_context, model
from agent.api.resources.files import reference
from agent.files.errors import os_error
from agent.files.info import file_info
from agent.files.paths import STAGING_PREFIX, require_read, require_write, valid_name
from agent.files.versions import file_sha256
from shared import archives
from shared.errors import AlreadyExists, InvalidParameter, NotFound

MAX_BYTES = 16 * 1024**3
BLOCK = 1024 * 1024


def _extract(archive: str, temp: str) -> None:
    os.mkdir(temp, 0o755)
    root = os.path.realpath(temp)
    written = 0
    for entry in archives.entries(archive):
        name = entry.name
        if not name:
            continue
        target = os.path.join(root, name)
        if not os.path.realpath(os.path.dirname(target)).startswith(root):
            raise archives.ArchiveRefused(f"entry {name!r} escapes the target directory")
        if entry.is_dir:
            os.makedirs(target, 0o755, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        assert entry.open is not None
        # O_EXCL and O_NOFOLLOW: a duplicate entry or a planted link is refused instead of followed.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out, entry.open() as content:
            while block := content.read(BLOCK):
                written += len(block)
                if written > MAX_BYTES:
                    raise archives.ArchiveRefused(f"the archive unpacks to more than {MAX_BYTES} bytes")
                out.write(block)


def _unpack(archive: str, parent: str, name: str, sha256: str | None) -> str:
    if not os.path.isfile(archive):
        raise NotFound(name="archive")
    if not os.path.isdir(parent):
        raise NotFound(name="parent")
    if os.path.lexists(os.path.join(parent, name)):
        raise AlreadyExists("name")
    if sha256 and file_sha256(archive) != sha256.lower():
        raise InvalidParameter("sha256", "The archive's sha256 differs (incomplete or corrupt upload).")
    target = os.path.join(parent, name)
    temp = os.path.join(parent, f"{STAGING_PREFIX}extract-{secrets.token_hex(8)}")
    try:
        _extract(archive, temp)
        if os.path.lexists(target):
            raise AlreadyExists("name")
        os.rename(temp, target)
    except archives.ArchiveRefused as err:
        raise InvalidParameter("archive", f"{err}; nothing was extracted.") from err
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as err:
        raise InvalidParameter("archive", f"The archive is corrupt or not a zip/tar file: {err}") from err
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


async def extract_archive(request: web.Request) -> web.StreamResponse:
    """POST /api/files/archive-extract."""
    body = await read_json(request)
    ctx = files_context(request)
    archive = ctx.path_of(reference(body, "archive"))
    parent = ctx.path_of(reference(body, "parent"))
    name = body["name"].strip() if isinstance(body.get("name"), str) else ""
    if not valid_name(name):
        raise InvalidParameter("name")
    sha256 = body.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise InvalidParameter("sha256")
    require_read(ctx.locations, archive)
    require_write(ctx.locations, parent)
    require_write(ctx.locations, os.path.join(parent, name))
    try:
        target = await asyncio.to_thread(_unpack, archive, parent, name, sha256)
    except OSError as err:
        raise os_error(err, parent) from err
    return json_response(request, model(ctx, file_info(target)), status=201, resource=RESOURCE,
                         location=f"{FILES_PATH}/{ctx.file_id(target)}")
