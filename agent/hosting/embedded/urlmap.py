"""URL → application → virtual directory → physical path for the embedded host's model (supervisor and worker).

The matching rule itself is agent.iisconfig.urlmap's, shared with the files API; this module applies it to
AppSpec/VdirSpec and adds HTTP.sys's URL normalisation.
"""

from __future__ import annotations

import os

from agent.hosting.embedded.model import AppSpec, VdirSpec
from agent.iisconfig import urlmap


def _path(item: AppSpec | VdirSpec) -> str:
    return item.path


def match_app(apps: tuple[AppSpec, ...], path: str) -> AppSpec | None:
    """The application with the longest path prefixing `path` on a segment boundary (case-insensitive)."""
    return urlmap.longest(apps, path, _path)


def map_path(app: AppSpec, url_path: str) -> str | None:
    """The physical path of a normalised URL path inside `app`: longest virtual directory wins."""
    found = urlmap.within(app.path, app.vdirs, url_path, _path)
    if found is None:
        return None
    vdir, rest = found
    return os.path.join(vdir.physical_path, rest) if rest else vdir.physical_path


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
