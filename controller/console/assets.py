"""The console's static files, read once from the package, each with a strong ETag (sha256 of its bytes).

Files are served from this in-memory table only, so no request path ever reaches the filesystem. Answers
carry `Cache-Control: no-cache` plus the ETag: browsers keep their copy and revalidate it with one
conditional request that is answered 304 until the file changes (with the next release).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
# The console runs only its own files: no inline script or style, no third-party origin, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file under controller/console/static, by its path relative to static/."""
    table: dict[str, Asset] = {}
    root = resources.files("controller.console") / "static"

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
                continue
            body = child.read_bytes()
            suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            kind = _TYPES.get(suffix) or mimetypes.guess_type(child.name)[0] or "application/octet-stream"
            table[name] = Asset(body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    walk(root, "")
    return table


ASSETS = web.AppKey("console_assets", dict[str, Asset])


def answer(request: web.Request, asset: Asset) -> web.Response:
    """The asset, or 304 when the browser's copy is current."""
    headers = {**HEADERS, "ETag": asset.etag}
    if asset.etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=headers)
