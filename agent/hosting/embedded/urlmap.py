"""URL → application → virtual directory → physical path, as IIS maps them."""

from __future__ import annotations

import os

from agent.hosting.embedded.model import AppSpec


def match_app(apps: tuple[AppSpec, ...], path: str) -> AppSpec | None:
    """The application with the longest path prefixing `path` on a segment boundary (case-insensitive)."""
    lower = path.lower()
    for app in apps:  # sorted longest first
        prefix = app.path.rstrip("/").lower()
        if not prefix or lower == prefix or lower.startswith(prefix + "/"):
            return app
    return None


def map_path(app: AppSpec, url_path: str) -> str | None:
    """The physical path of a normalised URL path inside `app`: longest virtual directory wins."""
    inner = url_path[len(app.path.rstrip("/")) :] or "/"
    lower = inner.lower()
    for vdir in app.vdirs:  # sorted longest first
        prefix = vdir.path.rstrip("/").lower()
        if not prefix or lower == prefix or lower.startswith(prefix + "/"):
            rest = inner[len(prefix) :].lstrip("/")
            return os.path.join(vdir.physical_path, rest) if rest else vdir.physical_path
    return None


def normalize_url_path(path: str) -> str | None:
    """Resolve `.`/`..` and backslashes as HTTP.sys does; None when the path climbs above the root."""
    segments: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
        else:
            segments.append(segment)
    trailing = "/" if segments and path.endswith(("/", "/.", "/..")) else ""
    return "/" + "/".join(segments) + trailing
