"""The CORS headers of an allowed cross-origin answer, as upstream sends them (the agent and the gateway)."""

from __future__ import annotations

from aiohttp import web

EXPOSE_HEADERS = "X-Total-Count, Accept-Ranges, Content-Range, Location, Allow, WWW-Authenticate"
"""What the web manager reads from answers: paging, ranges, created resources' Location, Allow, auth challenges."""


def allow_origin(response: web.StreamResponse, origin: str) -> None:
    """Let `origin` read this answer with credentials, and the exposed headers; vary the cache on Origin."""
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    if "Origin" not in response.headers.getall("Vary", []):
        response.headers.add("Vary", "Origin")
