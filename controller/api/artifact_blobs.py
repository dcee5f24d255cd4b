"""Incremental artifact routes: a tree's manifest, then only the file contents the controller lacks.

    POST /api/artifacts/manifests       {"name", "files": [{"path", "size", "mode", "sha256"}], "directories"}
        -> 200 {"sha256", "missing": [digests], "missing_bytes", "artifact": null}   blobs to send first
        -> 201 {"sha256", "missing": [], "missing_bytes": 0, "artifact": {...}}      deployable now
    PUT  /api/artifacts/blobs/{sha256}  body: the content -> 201 {"sha256", "size"}
    POST /api/artifacts/blobs           body: uncompressed tar, members named by sha256 -> 201 {"stored", "bytes"}
"""

from __future__ import annotations

from aiohttp import web

from controller.api.artifacts import record_artifact
from controller.keys import SETTINGS
from controller.services import blobs, manifests
from controller.services.errors import TooLarge

CHUNK = 1024 * 1024
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
"""A manifest body may exceed the 1 MiB of other JSON bodies (200,000 entries)."""


async def submit_manifest(request: web.Request) -> web.Response:
    """POST /api/artifacts/manifests."""
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > MANIFEST_MAX_BYTES:
            raise TooLarge(f"a manifest is limited to {MANIFEST_MAX_BYTES} bytes")
    wanted = manifests.ManifestRequest.model_validate_json(bytes(body) or b"null")
    status, answer = await manifests.submit(request.app[SETTINGS], wanted)
    headers = {}
    if status == 201:
        headers["Location"] = f"/api/artifacts/{answer['sha256']}"
        await record_artifact(request, answer.get("artifact") or {"sha256": answer["sha256"], "name": wanted.name})
    return web.json_response(answer, status=status, headers=headers)


async def put_blob(request: web.Request) -> web.Response:
    """PUT /api/artifacts/blobs/{sha256}."""
    sha256 = request.match_info["sha256"]
    blobs.blob_path(request.app[SETTINGS], sha256)  # 400 before reading a body for a malformed digest
    size = await blobs.store_blob(request.app[SETTINGS], sha256, request.content.iter_chunked(CHUNK),
                                  request.content_length)
    return web.json_response({"sha256": sha256, "size": size}, status=201)


async def post_blobs(request: web.Request) -> web.Response:
    """POST /api/artifacts/blobs."""
    return web.json_response(await blobs.store_blob_tar(request.app[SETTINGS], request.content), status=201)
