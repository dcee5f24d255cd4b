"""Route rows and their registration; each row's auth kind and role drive the auth middleware and OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from controller.auth.roles import Role
from shared.handler import Handler as Handler  # re-exported: the route modules import it from here

Auth = Literal["public", "operator", "agent", "join_token", "metrics"]
"""`metrics`: an operator token holding the row's role, or a valid scrape certificate (metrics role)."""
RoleRule = Callable[[web.Request], Role]
"""The role a request needs when the row alone cannot say (the gateway: it depends on the agent path)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One row of the routing table."""

    method: str
    path: str
    handler: Handler
    name: str
    auth: Auth
    summary: str
    role: Role | RoleRule = "admin"
    """What an operator key must hold; rows that do not say need admin."""
    body: type[BaseModel] | None = None
    """The wire model of a JSON request body, published in the OpenAPI document."""

    def needs(self, request: web.Request) -> Role:
        """The role this request needs."""
        return self.role(request) if callable(self.role) else self.role


# Beside Route, not in controller.keys: this module reads it, and controller.keys would import this module.
ROUTE_TABLE = web.AppKey("route_table", dict[str, Route])
"""Route name -> row, for the auth middleware."""


def register(app: web.Application, routes: Iterable[Route]) -> None:
    """Add every row to the router and remember it by name for the auth middleware."""
    table: dict[str, Route] = {}
    for route in routes:
        if route.name in table:
            raise ValueError(f"duplicate route name {route.name!r}")
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
        table[route.name] = route
    app[ROUTE_TABLE] = table


def route_of(request: web.Request) -> Route | None:
    """The table row that matched this request (None for 404/405 answers)."""
    name = request.match_info.route.name
    return request.app[ROUTE_TABLE].get(name) if name else None
