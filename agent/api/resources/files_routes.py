"""FILES_ROUTES: every files route in the order they must be registered (named paths before `{id}`)."""

from __future__ import annotations

from agent.api.resources import copy_move, downloads, file_content, file_locations, files, webserver_files
from agent.api.routing import Route

ROUTES: tuple[Route, ...] = (
    *file_locations.ROUTES,
    *downloads.ROUTES,
    *copy_move.ROUTES,
    *file_content.ROUTES,
    *files.ROUTES,
)
"""The /api/files family and /downloads; register before any catch-all."""

WEBSERVER_ROUTES: tuple[Route, ...] = webserver_files.ROUTES
"""/api/webserver/files; register before `/api/webserver/{id}`."""
