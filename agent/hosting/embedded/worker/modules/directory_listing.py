"""DirectoryListingModule: directoryBrowse enabled → IIS's HTML listing of a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from agent.hosting.embedded.model import flag_names
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.markup import escape
from agent.hosting.embedded.worker.modules.default_document import unanswered_directory
from agent.hosting.embedded.worker.response import Response

SECTION = "system.webServer/directoryBrowse"


@dataclass(frozen=True, slots=True)
class BrowseSettings:
    """enabled and showFlags (lower-case names)."""

    enabled: bool
    flags: frozenset[str]


def load(section: Any) -> BrowseSettings:
    """Read the effective section once per generation and path."""
    flags = frozenset(f.lower() for f in flag_names(section.get("showFlags")))
    return BrowseSettings(bool(section.get("enabled")), flags)


def _row(entry: os.DirEntry[str], url: str, flags: frozenset[str]) -> str:
    info = entry.stat()
    when = datetime.fromtimestamp(info.st_mtime)
    parts = []
    if "longdate" in flags:
        parts.append(f"{when:%A, %B} {when.day}, {when.year}")
    elif "date" in flags:
        parts.append(f"{when.month}/{when.day}/{when.year}")
    if "time" in flags:
        parts.append(f"{when:%I:%M %p}".lstrip("0"))
    is_dir = entry.is_dir()
    if "size" in flags or is_dir:
        parts.append("&lt;dir&gt;" if is_dir else str(info.st_size))
    name = entry.name if "extension" in flags or is_dir else os.path.splitext(entry.name)[0]
    href = url + quote(entry.name) + ("/" if is_dir else "")
    return f'{" ".join(parts):>30} <A HREF="{href}">{escape(name)}</A><br>'


def listing(host: str, url: str, path: str, flags: frozenset[str]) -> str:
    """The listing page for directory `path` at URL `url` (ending with /)."""
    title = escape(f"{host} - {url}")
    rows = []
    if url != "/":
        parent = url.rstrip("/").rsplit("/", 1)[0] + "/"
        rows.append(f'<A HREF="{parent}">[To Parent Directory]</A><br><br>')
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name.lower()):
            rows.append(_row(entry, url, flags))
    body = "".join(rows)
    return f"<html><head><title>{title}</title></head><body><H1>{title}</H1><hr>\n\n<pre>{body}</pre><hr></body></html>"


class DirectoryListingModule:
    """Lists a directory that has no default document, when directory browsing is enabled."""

    def execute_request_handler(self, ctx: HttpContext) -> None:
        """Answer with the listing, or leave the request to StaticFileModule (403.14)."""
        directory = unanswered_directory(ctx)
        if directory is None:
            return
        rules = ctx.settings(SECTION, load)
        if rules.enabled:
            page = listing(ctx.request.host, ctx.url_path, directory, rules.flags)
            ctx.response = Response(text=page, content_type="text/html")
