"""Operator routes over the registry: agents, join tokens and the audit log."""

from __future__ import annotations

import json

from aiohttp import web

from controller.api.http import model_response, read_object
from controller.keys import CA, SETTINGS, STORE
from controller.services import registry
from controller.services.credentials import check_labels, create_join_token
from controller.settings import SettingsError, parse_duration
from shared.errors import InvalidParameter


async def list_agents(request: web.Request) -> web.Response:
    """GET /api/agents."""
    agents = await registry.list_agents(request.app[STORE], request.app[SETTINGS].offline_after)
    return web.json_response({"agents": [agent.model_dump() for agent in agents]})


async def get_agent(request: web.Request) -> web.Response:
    """GET /api/agents/{id}."""
    agent = await registry.get_agent(request.app[STORE], request.match_info["id"], request.app[SETTINGS].offline_after)
    return model_response(agent)


async def patch_agent(request: web.Request) -> web.Response:
    """PATCH /api/agents/{id}: {"labels": {...}} merges labels (null removes one)."""
    body = await read_object(request)
    if set(body) - {"labels"}:
        raise InvalidParameter(sorted(set(body) - {"labels"})[0], "only labels can be changed")
    agent = await registry.update_labels(
        request.app[STORE], request.match_info["id"], body.get("labels", {}), request.app[SETTINGS].offline_after
    )
    return model_response(agent)


async def delete_agent(request: web.Request) -> web.Response:
    """DELETE /api/agents/{id}: revoke the agent."""
    await registry.revoke(request.app[STORE], request.match_info["id"])
    return web.Response(status=204)


async def create_join_token_handler(request: web.Request) -> web.Response:
    """POST /api/join-tokens: {"labels": {...}, "ttl": "1h"} -> {"token": ...}."""
    body = await read_object(request)
    labels = body.get("labels") or {}
    if not isinstance(labels, dict):
        raise InvalidParameter("labels", "labels must be an object of string values")
    try:
        ttl = parse_duration(str(body.get("ttl", "1h")))
    except SettingsError as err:
        raise InvalidParameter("ttl", str(err)) from err
    token = await create_join_token(request.app[STORE], check_labels(labels), ttl, request.app[CA].fingerprint)
    return web.json_response({"token": token, "expires_in": ttl}, status=201)


async def list_audit(request: web.Request) -> web.Response:
    """GET /api/audit?limit=N: the newest gateway calls."""
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError as err:
        raise InvalidParameter("limit", "limit must be an integer") from err
    entries = await request.app[STORE].audit_entries(limit)
    return web.json_response({"entries": json.loads(json.dumps(entries))})
