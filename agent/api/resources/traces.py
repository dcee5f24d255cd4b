"""Failed-request trace files of a site: /api/webserver/http-request-tracing/traces (read-only).

IIS writes one XML file per failed request to `<site traceFailedRequestsLogging directory>/W3SVC<site id>`;
the list parses each file's `failedRequest` root (url, verb, triggerStatusCode, timeTaken, processId,
activityId) and links the file through the files API. Files that do not parse are listed with what is known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree

from agent.api.context import Ctx, context
from agent.api.features.rows import TRACING
from agent.api.features.target import Target, from_id, require_modules
from agent.api.http import json_response, list_response, render
from agent.api.resources import file_models
from agent.files.info import file_info
from agent.ids import Purpose
from shared.dates import format_date
from shared.errors import NotFound

PATH = TRACING.path + "/traces"
SITES = "system.applicationHost/sites"
REF_FIELDS = ("id", "url", "method", "status_code", "date", "time_taken", "process_id", "activity_id",
              "file_info", "request_tracing")  # fmt: skip
# Members upstream leaves out when the file does not give them.
OPTIONAL = ("url", "method", "status_code", "process_id", "activity_id")


@dataclass(frozen=True, slots=True)
class Trace:
    """One trace file of a site and what its root element says."""

    target: Target
    path: Path
    root: dict[str, str]


def _directory(target: Target) -> Path | None:
    """`<directory>/W3SVC<id>` of the site; None unless a local path inside the readable file locations."""
    sites = target.ctx.store.effective_section(SITES, "")
    site = sites.collection().find(id=target.site_key)
    if site is None:
        return None
    raw = os.path.expandvars(str(site.child("traceFailedRequestsLogging").get("directory") or ""))
    if "%" in raw or not os.path.isabs(raw):
        return None
    folder = Path(raw) / f"W3SVC{target.site_key}"
    # The directory is a plain PATCH away: list only what the file locations let the caller read anyway.
    return folder if target.ctx.locations.can_read(str(folder)) else None


def _root(path: Path) -> dict[str, str]:
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except (OSError, etree.XMLSyntaxError):
        return {}
    return {str(k): str(v) for k, v in tree.getroot().attrib.items()}


def _traces(target: Target) -> list[Trace]:
    folder = _directory(target)
    if folder is None or not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".xml" and p.is_file() and not p.is_symlink())
    return [Trace(target, p, _root(p)) for p in files]


def _number(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _trace_id(ctx: Ctx, t: Trace) -> str:
    return ctx.codec.encode(Purpose.TRACE, f"{t.target.site_key}\n{t.path.name}")


GETTERS: dict[str, Any] = {
    "id": _trace_id,
    "url": lambda ctx, t: t.root.get("url", ""),
    "method": lambda ctx, t: t.root.get("verb", ""),
    "status_code": lambda ctx, t: _number(t.root.get("triggerStatusCode")),
    "date": lambda ctx, t: format_date(datetime.fromtimestamp(t.path.stat().st_mtime, UTC)),
    "time_taken": lambda ctx, t: _number(t.root.get("timeTaken")),
    "process_id": lambda ctx, t: _number(t.root.get("processId")),
    "activity_id": lambda ctx, t: t.root.get("activityId", ""),
    "file_info": lambda ctx, t: file_models.ref(file_models.files_context(ctx.request), file_info(str(t.path))),
    "request_tracing": lambda ctx, t: t.target.ref(),
}


def _links(ctx: Ctx, t: Trace) -> dict[str, str]:
    return {"self": f"{PATH}/{_trace_id(ctx, t)}"}


def _render(ctx: Ctx, t: Trace) -> dict[str, Any]:
    out = render(ctx, t, GETTERS, ctx.fields, REF_FIELDS, _links, hal=ctx.hal)
    return {k: v for k, v in out.items() if not (k in OPTIONAL and v in ("", 0))}


async def list_traces(request: web.Request) -> web.StreamResponse:
    """GET …/traces?http_request_tracing.id= (a site's feature id): every trace file, full items."""
    ctx = context(request)
    require_modules(ctx, TRACING)
    if "http_request_tracing.id" not in request.query:
        raise NotFound()
    target = from_id(ctx, TRACING, request.query["http_request_tracing.id"])
    if target is None or target.site is None:
        raise NotFound()
    items = [_render(ctx, t) for t in _traces(target)]
    return list_response(request, "traces", items, resource="Microsoft.WebServer.HttpRequestTracing.Traces")


async def get_trace(request: web.Request) -> web.StreamResponse:
    """GET …/traces/{id}: one trace file (its name matched case-insensitively)."""
    ctx = context(request)
    require_modules(ctx, TRACING)
    key, name = ctx.codec.decode_parts(Purpose.TRACE, request.match_info["id"], 2)
    site = ctx.index.site(int(key)) if key.isdigit() else None
    if site is None:
        raise NotFound(name="trace")
    target = Target(ctx, TRACING, site, "/")
    found = next((t for t in _traces(target) if t.path.name.lower() == name.lower()), None)
    if found is None:
        raise NotFound(name="trace")
    return json_response(request, _render(ctx, found), resource="Microsoft.WebServer.HttpRequestTracing.Trace")
