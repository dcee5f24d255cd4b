"""The console's static files, read once from the package, each with a content hash as ETag and version.

Files are served from this in-memory table only, so no request path ever reaches the filesystem. The page
links every file by a versioned URL (`?v=<hash>`): the stylesheet and entry module directly, the other
modules through an import map that maps each module URL to its versioned one. A versioned request is
cached for a year (`immutable`); anything else (the page itself, an unversioned URL) carries
`Cache-Control: no-cache` and is revalidated with its ETag, answered 304 until the file changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable

from aiohttp import web

BASE = "/console/"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
_IMPORT_MAP = "<!-- importmap -->"
# The console runs only its own files: no third-party origin, no framing, no inline script but the import map.
_CSP = ("default-src 'none'; script-src 'self' {map}; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file and the headers it is served with."""

    body: bytes
    content_type: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """The strong ETag: the content hash."""
        return f'"{self.version}"'


def _files(node: Traversable, prefix: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for child in node.iterdir():
        if child.is_dir():
            found.update(_files(child, f"{prefix}{child.name}/"))
        else:
            found[f"{prefix}{child.name}"] = child.read_bytes()
    return found


def _kind(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _version(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:20]


def load_assets() -> dict[str, Asset]:
    """Every file under controller/console/static by its path relative to static/; index.html gets the map."""
    files = _files(resources.files("controller.console") / "static")
    versions = {name: _version(body) for name, body in files.items() if name != "index.html"}
    table = {name: Asset(body, _kind(name), versions[name]) for name, body in files.items() if name != "index.html"}
    modules = {f"{BASE}{name}": f"{BASE}{name}?v={v}" for name, v in sorted(versions.items()) if name.endswith(".js")}
    import_map = json.dumps({"imports": modules}, separators=(",", ":"))
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    page = files["index.html"].decode()
    for name, version in versions.items():
        page = page.replace(f'"{BASE}{name}"', f'"{BASE}{name}?v={version}"')
    page = page.replace(_IMPORT_MAP, f'<script type="importmap">{import_map}</script>')
    body = page.encode()
    csp = _CSP.format(map=f"'sha256-{digest}'")
    table["index.html"] = Asset(body, "text/html", _version(body), {"Content-Security-Policy": csp})
    return table


ASSETS = web.AppKey("console_assets", dict[str, Asset])


def answer(request: web.Request, asset: Asset) -> web.Response:
    """The asset (immutable when asked for by its version), or 304 when the browser's copy is current."""
    cache = IMMUTABLE if request.query.get("v") == asset.version else "no-cache"
    headers = {**HEADERS, **asset.headers, "ETag": asset.etag, "Cache-Control": cache}
    if asset.etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=headers)
