"""The OpenAPI 3.1 document, generated from the routing table and the resources' field tables."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from agent.api.routing import Route

PROBLEM = {
    "type": "object",
    "required": ["title", "status"],
    "properties": {"title": {"type": "string"}, "status": {"type": "integer"}, "name": {"type": "string"},
                   "detail": {"type": "string"}},
}
REASONS = {200: "OK", 201: "Created", 204: "No Content", 209: "Updated; the id changed (see Location)"}


def build_openapi(routes: Iterable[Route], version: str) -> dict[str, Any]:
    """One operation per row; request bodies come from the row's schema."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": route.handler.__name__,
            "responses": {
                **{str(code): {"description": REASONS.get(code, "OK")} for code in route.statuses},
                "default": {"description": "Error", "content": {"application/problem+json": {"schema": PROBLEM}}},
            },
        }
        if params:
            operation["parameters"] = params
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "IIS Fleet agent: IIS Administration API", "version": version},
        "components": {
            "securitySchemes": {"accessToken": {"type": "apiKey", "in": "header", "name": "Access-Token"}}
        },
        "security": [{"accessToken": []}],
        "paths": paths,
    }


def openapi_handler(routes: Iterable[Route], version: str) -> Any:
    """A handler serving the document built from `routes` on the first request, then kept.

    Built on demand: the document is ~0.6 MiB of dicts that an idle agent need not hold (bench/idle_memory.py).
    """
    table = tuple(routes)
    built: list[dict[str, Any]] = []

    async def get_openapi(request: web.Request) -> web.StreamResponse:
        if not built:
            built.append(build_openapi(table, version))
        return web.json_response(built[0])

    return get_openapi
