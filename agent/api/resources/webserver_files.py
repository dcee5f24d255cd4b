"""/api/webserver/files: a site's virtual file tree (applications, virtual directories, their files)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.http import FieldSelection, Nested, json_response, render
from agent.api.refs import find_site, site_nested
from agent.api.resources import file_models
from agent.api.resources.file_models import FilesCtx, files_context
from agent.files import ranges, webtree
from agent.files.info import file_info
from agent.files.paths import INVALID_NAME_CHARS, is_hidden, require_read
from agent.files.webtree import Vdir
from agent.ids import Purpose
from agent.iisconfig.index import site_key
from shared.errors import InvalidParameter, NotAllowed, NotFound

PATH = "/api/webserver/files"
RESOURCE = "Microsoft.WebServer.File"
RESOURCES = "Microsoft.WebServer.Files"
REF_FIELDS = ("name", "id", "type", "path")


@dataclass(frozen=True, slots=True)
class WebFile:
    """One node of the virtual tree: its site, virtual path, physical path and kind."""

    site: Any
    path: str
    physical: str
    kind: str
    vdir: Vdir | None = None
    in_listing: bool = False


@dataclass(slots=True)
class WsCtx:
    """Both contexts: the web server one (sites, refs) and the files one (file_info refs, claims)."""

    web: Ctx
    files: FilesCtx

    @property
    def hal(self) -> bool:
        """Whether `_links` are wanted."""
        return self.web.hal


def web_file_id(ctx: WsCtx, site: Any, path: str) -> str:
    """The id of a virtual path of a site."""
    return ctx.web.codec.encode(Purpose.WEBSERVER_FILE, f"{path}\n{site_key(site)}")


def node(site: Any, path: str) -> WebFile | None:
    """What lives at a virtual path, or None when nothing does."""
    physical = webtree.physical_path(site, path)
    if physical is None:
        return None
    vdir = webtree.exact_vdir(site, path)
    if vdir is not None:
        return WebFile(site, vdir.path, physical, vdir.kind, vdir)
    info = file_info(physical)
    if not info.exists:
        return None
    return WebFile(site, path, physical, "directory" if info.is_dir else "file")


def _parent(ctx: WsCtx, item: WebFile) -> Nested | None:
    parent = webtree.parent_path(item.path)
    if item.vdir is not None and item.kind == "vdir":
        parent = item.vdir.app.get("path") or "/"
    if parent is None:
        return None
    found = node(item.site, str(parent))
    if found is None:
        return None
    return Nested(ref(ctx, found), lambda sub: render(ctx, found, GETTERS, sub, REF_FIELDS, links, hal=ctx.hal,
                                                      ref_links_only=True))  # fmt: skip


def _file_info(ctx: WsCtx, item: WebFile) -> Nested | None:
    if item.in_listing and item.vdir is not None and not ctx.files.locations.can_read(item.physical):
        return None
    return file_models.nested(ctx.files, file_info(item.physical))


GETTERS: dict[str, Any] = {
    "name": lambda ctx, f: f.path.lstrip("/") if f.vdir is not None else os.path.basename(f.physical),
    "id": lambda ctx, f: web_file_id(ctx, f.site, f.path),
    "type": lambda ctx, f: f.kind,
    "path": lambda ctx, f: f.path,
    "parent": _parent,
    "website": lambda ctx, f: site_nested(ctx.web, f.site),
    "file_info": _file_info,
}


def links(ctx: WsCtx, item: WebFile) -> dict[str, str]:
    """`self`, plus `files` for anything that has children."""
    fid = web_file_id(ctx, item.site, item.path)
    out = {"self": f"{PATH}/{fid}"}
    if item.kind != "file":
        out["files"] = f"{PATH}?parent.id={fid}"
    return out


def ref(ctx: WsCtx, item: WebFile) -> dict[str, Any]:
    """The reference form of a node."""
    return render(ctx, item, GETTERS, FieldSelection(None), REF_FIELDS, links, hal=ctx.hal,
                  ref_links_only=True)


def model(ctx: WsCtx, item: WebFile) -> dict[str, Any]:
    """The full model (or the `fields=` selection of it)."""
    return render(ctx, item, GETTERS, ctx.web.fields, GETTERS.keys(), links, hal=ctx.hal)


def _children(ctx: WsCtx, parent: WebFile, name: str | None) -> list[WebFile]:
    """Virtual entries and sub-directories merged by name, then files; a virtual entry hides a directory."""
    dirs: dict[str, WebFile] = {}
    for vdir in webtree.virtual_children(parent.site, parent.path):
        key = vdir.path.rsplit("/", 1)[-1] if vdir.kind == "vdir" else vdir.path.lstrip("/")
        if (not name or name in key.lower()) and key.lower() not in dirs:
            dirs[key.lower()] = WebFile(parent.site, vdir.path, vdir.physical_path, vdir.kind, vdir, True)
    if not os.path.isdir(parent.physical):
        raise NotFound(name="parent.id")
    files: list[WebFile] = []
    base = parent.path.rstrip("/")
    with os.scandir(parent.physical) as entries:
        for entry in entries:
            lowered = entry.name.lower()
            if is_hidden(entry.name) or (name and name not in lowered) or lowered in dirs:
                continue
            if not ctx.files.locations.can_read(entry.path):
                continue
            info = file_info(entry.path)
            child = WebFile(parent.site, f"{base}/{entry.name}", entry.path, "directory" if info.is_dir else "file")
            if info.is_dir:
                dirs[lowered] = child
            elif info.is_file:
                files.append(child)
    return [dirs[k] for k in sorted(dirs)] + sorted(files, key=lambda f: f.path.lower())


def _contexts(request: web.Request) -> WsCtx:
    return WsCtx(context(request), files_context(request))


def _site_from_query(ctx: WsCtx, request: web.Request) -> Any:
    if request.query.get("website.id"):
        return find_site(ctx.web, request.query["website.id"])
    scope = request.query.get("scope")
    site = ctx.web.index.site_named(scope.split("/", 1)[0]) if scope else None
    if site is None:
        raise NotFound(name="website")
    return site


async def list_web_files(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/files?parent.id= (children) or ?path=&website.id= (one node)."""
    ctx = _contexts(request)
    name = request.query.get("name")
    if name and set(name) & INVALID_NAME_CHARS:
        raise InvalidParameter("name")
    if "path" in request.query:
        raw = request.query["path"] or "/"
        if not raw.startswith("/"):
            raise InvalidParameter("path")
        found = node(_site_from_query(ctx, request), webtree.normalize(raw))
        if found is None:
            raise NotFound(name="path")
        require_read(ctx.files.locations, found.physical)
        return json_response(request, model(ctx, found), resource=RESOURCE)
    parent = _find(ctx, request.query.get("parent.id") or "")
    require_read(ctx.files.locations, parent.physical)
    children = await asyncio.to_thread(_children, ctx, parent, name.lower() if name else None)
    items, content_range = ranges.page(children, request.headers.get("Range"))
    headers = {"X-Total-Count": str(len(items)), "Accept-Ranges": "files"}
    if content_range:
        headers["Content-Range"] = content_range
    body = {"files": [render(ctx, c, GETTERS, ctx.web.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True)
                      for c in items]}
    return json_response(request, body, resource=RESOURCES, headers=headers)


def _find(ctx: WsCtx, file_id: str) -> WebFile:
    if not file_id:
        raise NotFound()
    path, key = ctx.web.codec.decode_parts(Purpose.WEBSERVER_FILE, file_id, 2)
    site = ctx.web.index.site(int(key)) if key.isdigit() else None
    found = node(site, path) if site is not None else None
    if found is None:
        raise NotFound()
    return found


async def get_web_file(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/files/{id}."""
    ctx = _contexts(request)
    found = _find(ctx, request.match_info["id"])
    require_read(ctx.files.locations, found.physical)
    return json_response(request, model(ctx, found), resource=RESOURCE)


async def not_allowed(request: web.Request) -> web.StreamResponse:
    """The collection is read-only: 405."""
    raise NotAllowed()
