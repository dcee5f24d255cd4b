"""DefaultDocumentModule: a directory URL is served by the first existing defaultDocument file."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.response import Response
from agent.security.confine import plain_file_name

SECTION = "system.webServer/defaultDocument"


@dataclass(frozen=True, slots=True)
class DefaultDocumentSettings:
    """enabled and the files, in order."""

    enabled: bool
    files: tuple[str, ...]


def load(section: Any) -> DefaultDocumentSettings:
    """Read the effective section once per generation and path; names that are not plain file names are skipped.

    The API refuses them; one written to web.config by hand would otherwise reach outside the directory.
    """
    names = (str(f.get("value")) for f in section.collection("files"))
    return DefaultDocumentSettings(bool(section.get("enabled")), tuple(n for n in names if plain_file_name(n)))


def courtesy_redirect(ctx: HttpContext) -> bool:
    """IIS redirects `/dir` to `/dir/` before serving a directory; True when it did."""
    if ctx.url_path.endswith("/"):
        return False
    query = ctx.request.query_string
    location = ctx.request.raw_path.partition("?")[0] + "/" + (f"?{query}" if query else "")
    ctx.response = Response(status=301, headers={"Location": location}, content_type="text/html",
                                text=f'<head><title>Document Moved</title></head>\n<body><h1>Object Moved</h1>'
                                f'This document may be found <a HREF="{location}">here</a></body>')  # fmt: skip
    ctx.complete()
    return True


def unanswered_directory(ctx: HttpContext) -> str | None:
    """The directory of a request no module answered yet (after the `/dir` -> `/dir/` redirect), else None."""
    if ctx.response is not None or ctx.physical_path is None:
        return None
    st = ctx.stat()
    if st is None or not stat.S_ISDIR(st.st_mode) or courtesy_redirect(ctx):
        return None
    return ctx.physical_path


class DefaultDocumentModule:
    """Rewrites a directory request to its default document, which StaticFileModule then serves."""

    def execute_request_handler(self, ctx: HttpContext) -> None:
        """Pick the first default document that exists."""
        directory = unanswered_directory(ctx)
        if directory is None:
            return
        st = ctx.stat()  # cached by the context: the directory as it was before a document is chosen
        rules = ctx.settings(SECTION, load)
        if not rules.enabled:
            return
        for name in rules.files:
            ctx.physical_path = os.path.join(directory, name)
            found = ctx.stat()  # cached for StaticFileModule
            if found is not None and stat.S_ISREG(found.st_mode):
                ctx.url_path += name
                # The directory as stat-ed before the choice: the kernel cache re-stats it (worker/app.py).
                ctx.items["default_document_dir"] = (directory, st)
                return
            ctx.physical_path = directory
