"""The /api/files model: the per-request context of the files resources, ids, and the getter tables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.api.http import FieldSelection, Nested, render, selection, wants_hal
from agent.files import info as finfo
from agent.files.info import FileInfo, file_info
from agent.files.locations import FileLocations
from agent.files.paths import id_text, normalize
from agent.files.state import FILES_RUNTIME, FilesRuntime
from agent.ids import IdCodec, Purpose
from agent.keys import FILE_LOCATIONS, ID_CODEC, SETTINGS
from agent.settings import AgentSettings

FILES_PATH = "/api/files"
RESOURCE = "Microsoft.IIS.Administration.File"
RESOURCES = "Microsoft.IIS.Administration.Files"
REF_FIELDS = ("name", "id", "type", "physical_path")


@dataclass(slots=True)
class FilesCtx:
    """What a files handler needs: ids, locations, runtime state and the HAL/fields choices."""

    request: web.Request
    codec: IdCodec
    locations: FileLocations
    runtime: FilesRuntime
    settings: AgentSettings
    hal: bool
    fields: FieldSelection

    def file_id(self, path: str) -> str:
        """The /api/files id of a physical path."""
        return self.codec.encode(Purpose.FILE, id_text(path))

    def path_of(self, file_id: str) -> str:
        """The normalised physical path behind a file id (404 when it does not decode)."""
        return normalize(self.codec.decode(Purpose.FILE, file_id))


def files_context(request: web.Request) -> FilesCtx:
    """The context of one files request."""
    app = request.app
    return FilesCtx(
        request=request,
        codec=app[ID_CODEC],
        locations=app[FILE_LOCATIONS],
        runtime=app[FILES_RUNTIME],
        settings=app[SETTINGS],
        hal=wants_hal(request),
        fields=selection(request),
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One item to render, with whether the full model (total_files) is wanted."""

    info: FileInfo
    full: bool = True


def _type(info: FileInfo) -> str | None:
    return "directory" if info.is_dir else "file" if info.is_file else None


def _date(field: str) -> Any:
    def getter(ctx: FilesCtx, e: Entry) -> str | None:
        st = e.info.st
        if st is None:
            return None
        seconds = getattr(st, "st_birthtime", st.st_ctime) if field == "created" else getattr(st, field)
        return finfo.iso_date(seconds)

    return getter


def _alias(ctx: FilesCtx, e: Entry) -> str:
    location = ctx.locations.location_of(e.info.path)
    return location.alias if location is not None else ""


def _total_files(ctx: FilesCtx, e: Entry) -> int:
    try:
        with os.scandir(e.info.path) as entries:
            return sum(1 for _ in entries)
    except OSError:
        return 0


def _parent(ctx: FilesCtx, e: Entry) -> Nested | None:
    parent = os.path.dirname(e.info.path)
    if parent == e.info.path or not ctx.locations.can_read(parent):
        return None
    return nested(ctx, file_info(parent))


HEAD: dict[str, Any] = {
    "name": lambda ctx, e: e.info.name,
    "id": lambda ctx, e: ctx.file_id(e.info.path),
    "alias": _alias,
    "type": lambda ctx, e: _type(e.info),
    "physical_path": lambda ctx, e: e.info.path,
    "exists": lambda ctx, e: e.info.exists,
}
DATES: dict[str, Any] = {
    "created": _date("created"),
    "last_modified": _date("st_mtime"),
    "last_access": _date("st_atime"),
}
TAIL: dict[str, Any] = {
    "parent": _parent,
    "claims": lambda ctx, e: sorted(ctx.locations.claims(e.info.path)),
}
FILE_GETTERS: dict[str, Any] = {
    **HEAD,
    "size": lambda ctx, e: e.info.size,
    **DATES,
    "mime_type": lambda ctx, e: finfo.mime_type(e.info.name),
    "e_tag": lambda ctx, e: finfo.etag(e.info.st) if e.info.st is not None else None,
    **TAIL,
}
DIR_GETTERS: dict[str, Any] = {**HEAD, **DATES, "total_files": _total_files, **TAIL}
MISSING_GETTERS: dict[str, Any] = {**HEAD, **DATES, **TAIL}


def _getters(ctx: FilesCtx, e: Entry) -> dict[str, Any]:
    table = DIR_GETTERS if e.info.is_dir else FILE_GETTERS if e.info.is_file else MISSING_GETTERS
    drop = set()
    if ctx.locations.location_of(e.info.path) is None:
        drop.add("alias")  # upstream emits alias only on a location root
    if not e.full or not ctx.locations.can_read(e.info.path):
        drop.add("total_files")
    return {k: v for k, v in table.items() if k not in drop} if drop else table


def links(ctx: FilesCtx, e: Entry) -> dict[str, str]:
    """The `_links` of a file or directory."""
    fid = ctx.file_id(e.info.path)
    out = {"self": f"{FILES_PATH}/{fid}", "copy": f"{FILES_PATH}/copy", "move": f"{FILES_PATH}/move"}
    if e.info.is_dir:
        out["files"] = f"{FILES_PATH}?parent.id={fid}"
    else:
        out["content"] = f"{FILES_PATH}/content/{fid}"
        out["downloads"] = f"{FILES_PATH}/downloads"
    return out


def model(ctx: FilesCtx, info: FileInfo) -> dict[str, Any]:
    """The full model (or the `fields=` selection of it)."""
    e = Entry(info)
    getters = _getters(ctx, e)
    return render(ctx, e, getters, ctx.fields, getters.keys(), links, hal=ctx.hal)


def list_item(ctx: FilesCtx, info: FileInfo) -> dict[str, Any]:
    """A listing item: ref fields unless `fields=` says otherwise, `self` link only."""
    e = Entry(info, full=False)
    return render(ctx, e, _getters(ctx, e), ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True)


def nested(ctx: FilesCtx, info: FileInfo) -> Nested:
    """A file as a nested member (`parent`, `file_info`): its reference, or its members under dotted `fields=`."""
    e = Entry(info, full=False)
    return Nested(ref(ctx, info), lambda sub: render(ctx, e, _getters(ctx, e), sub, REF_FIELDS, links, hal=ctx.hal,
                                                      ref_links_only=True))  # fmt: skip


def ref(ctx: FilesCtx, info: FileInfo) -> dict[str, Any]:
    """`{name, id, type, physical_path}` (+ `self`) of an item, for nesting in other models."""
    e = Entry(info, full=False)
    return render(ctx, e, _getters(ctx, e), FieldSelection(None), REF_FIELDS, links, hal=ctx.hal, ref_links_only=True)
