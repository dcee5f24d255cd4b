"""The audit middleware: every successful state-changing request is written to the audit log.

Upstream audits only some controllers and skips the API-key endpoints; this agent audits every
POST/PUT/PATCH/DELETE that answers 200-399, the security area included, with secrets masked.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from agent.api.routing import Handler
from agent.security.attribution import OPERATOR
from agent.security.audit_log import entry_text, model_argument
from agent.security.keys import AUDIT, PRINCIPAL

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_AUDITED_BODY = 1024 * 1024

log = logging.getLogger("iisfleet.agent.security")


def _is_json(request: web.Request) -> bool:
    content_type = request.content_type.lower()
    return content_type == "application/json" or content_type.endswith("+json")


async def _cache_body(request: web.Request) -> bytes | None:
    length = request.content_length
    if not _is_json(request) or length is None or length > MAX_AUDITED_BODY:
        return None
    # request.read() caches the bytes; read_json reads them through the same cache.
    return await request.read()


def _security_route(path: str) -> bool:
    lowered = path.lower()
    return lowered.startswith("/security") or lowered.startswith("/api/access-token")


def _arguments(request: web.Request, raw: bytes | None) -> dict[str, str]:
    arguments = {name: value for name, value in request.match_info.items()}
    if raw:
        try:
            body: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return arguments
        arguments["model"] = model_argument(body, security_route=_security_route(request.path))
    return arguments


def _record(request: web.Request, status: int, raw: bytes | None) -> None:
    if not 200 <= status < 400:
        return
    key = request.get(PRINCIPAL)
    arguments = _arguments(request, raw)
    text = entry_text(key.id if key else "", request.method, request.path, arguments, operator=request.get(OPERATOR))
    request.app[AUDIT].write(text)


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write an audit entry for each state-changing request that succeeded."""
    if request.method not in STATE_CHANGING or not request.app[AUDIT].enabled:
        return await handler(request)
    raw = await _cache_body(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _record(request, exc.status, raw)
        raise
    _record(request, response.status, raw)
    return response
