"""The OpenAPI 3.1 document, generated from the routing table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from controller.api.routing import ROUTE_TABLE, Route

ANY_METHOD = ("get", "put", "post", "patch", "delete", "head", "options")
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "join_token": [],
    "operator": [{"bearer": []}],
    "agent": [{"agentCertificate": []}],
    "metrics": [{"bearer": []}, {"scrapeCertificate": []}],
}


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """One path item per route row, with its summary, parameters and security."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path)
        ]
        methods = ANY_METHOD if route.method == "*" else (route.method.lower(),)
        for method in methods:
            operation: dict[str, Any] = {
                "operationId": route.name if route.method != "*" else f"{route.name}.{method}",
                "summary": route.summary,
                "security": _SECURITY[route.auth],
                "responses": {"default": {"description": "see docs/controller-api.md"}},
            }
            if params:
                operation["parameters"] = params
            if route.body is not None:
                schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[route.body.__name__] = schema
                ref = {"$ref": f"#/components/schemas/{route.body.__name__}"}
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
            if route.auth == "operator":  # the role an operator key needs (controller/auth/roles.py)
                operation["x-iisfleet-role"] = route.role if isinstance(route.role, str) else "by agent path"
            paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "IIS Fleet controller API", "version": "1"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "operator token"},
                "agentCertificate": {"type": "mutualTLS", "description": "client certificate issued by the CA"},
                "scrapeCertificate": {"type": "mutualTLS", "description": "metrics-role certificate of the CA"},
            },
            "schemas": schemas,
        },
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json."""
    return web.json_response(document(request.app[ROUTE_TABLE].values()))
