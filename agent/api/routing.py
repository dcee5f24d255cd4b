"""The Route row and how a table of them becomes aiohttp routes and an OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.handler import Handler as Handler  # re-exported: the route modules import it from here


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One row of the routing table: method, path, handler and what the OpenAPI document says of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: dict[str, Any] | None = None
    """JSON schema of the request body, for the OpenAPI document."""
    statuses: tuple[int, ...] = (200,)


def register(router: web.UrlDispatcher, routes: Iterable[Route]) -> None:
    """Add every row to the router; GET rows also answer HEAD, as upstream does.

    Each row is also served with one trailing slash (`HEAD /api/certificates/`, `POST .../authorization/`), as
    ASP.NET Core routing ignores one; the web manager relies on it. Added right after the row, so the table's
    order (named segments before `{id}`) holds for both forms; OPTIONS follows since the resource exists.
    """
    for route in routes:
        for path in slash_forms(route.path):
            if route.method == "GET":
                router.add_get(path, route.handler, allow_head=True)
            else:
                router.add_route(route.method, path, route.handler)


def slash_forms(path: str) -> tuple[str, ...]:
    """The path as written and with one optional trailing slash."""
    return (path,) if path.endswith("/") else (path, path + "/")


def get(path: str, handler: Handler, summary: str, tag: str, **kw: Any) -> Route:
    """A GET row."""
    return Route(method="GET", path=path, handler=handler, summary=summary, tag=tag, **kw)


def post(path: str, handler: Handler, summary: str, tag: str, **kw: Any) -> Route:
    """A POST row (201 by default)."""
    kw.setdefault("statuses", (201,))
    return Route(method="POST", path=path, handler=handler, summary=summary, tag=tag, **kw)


def patch(path: str, handler: Handler, summary: str, tag: str, **kw: Any) -> Route:
    """A PATCH row (200, or 209 when the id changed)."""
    kw.setdefault("statuses", (200, 209))
    return Route(method="PATCH", path=path, handler=handler, summary=summary, tag=tag, **kw)


def delete(path: str, handler: Handler, summary: str, tag: str, **kw: Any) -> Route:
    """A DELETE row (204)."""
    kw.setdefault("statuses", (204,))
    return Route(method="DELETE", path=path, handler=handler, summary=summary, tag=tag, **kw)


def put(path: str, handler: Handler, summary: str, tag: str, **kw: Any) -> Route:
    """A PUT row."""
    return Route(method="PUT", path=path, handler=handler, summary=summary, tag=tag, **kw)


def not_allowed(path: str, handler: Handler, tag: str, *methods: str) -> tuple[Route, ...]:
    """Rows that answer 405 for methods upstream refuses on a path (they still need a token)."""
    return tuple(
        Route(method=m, path=path, handler=handler, summary="Not allowed (405)", tag=tag, statuses=(405,))
        for m in methods
    )
