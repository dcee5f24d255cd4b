"""Artifact routes: stream a deploy archive up once (checked, stored by sha256), read its summary."""

from __future__ import annotations

from aiohttp import web

from controller.keys import OPERATOR, SETTINGS, STORE
from controller.services import artifact_trees, artifacts, audit

CHUNK = 1024 * 1024


async def upload_artifact(request: web.Request) -> web.Response:
    """POST /api/artifacts[?name=&sha256=]: the body is the archive (zip or tar, optionally compressed)."""
    settings = request.app[SETTINGS]
    info = await artifacts.store_upload(
        settings, request.content.iter_chunked(CHUNK), request.query.get("name", "artifact"),
        request.query.get("sha256"),
    )
    # Unpacked once now (content tree + manifest), so a deploy job starts sending at once.
    await artifact_trees.artifact_tree(settings, info["sha256"])
    await record_artifact(request, info)
    return web.json_response(info, status=201, headers={"Location": f"/api/artifacts/{info['sha256']}"})


async def record_artifact(request: web.Request, info: dict[str, object]) -> None:
    """Audit a new deployable artifact (blobs alone are inert content and are not audited one by one)."""
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, request[OPERATOR], "artifact.create",
                       artifact=str(info.get("sha256", "")), name=str(info.get("name", "")))


async def get_artifact(request: web.Request) -> web.Response:
    """GET /api/artifacts/{sha256}."""
    return web.json_response(artifacts.artifact_info(request.app[SETTINGS], request.match_info["sha256"]))
