"""Operator routes over the registry: agents, join tokens and the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from controller.api.http import model_response, read_object
from controller.auth.roles import in_scope
from controller.keys import CA, OPERATOR, SETTINGS, STORE
from controller.services import audit, registry
from controller.services.credentials import check_labels, create_join_token
from controller.settings import SettingsError, parse_duration
from shared.errors import InvalidParameter, NotFound
from shared.models import AgentInfo


async def list_agents(request: web.Request) -> web.Response:
    """GET /api/agents: the agents inside the caller's label scope."""
    agents = await registry.list_agents(request.app[STORE], request.app[SETTINGS].offline_after)
    scope = request[OPERATOR].scope
    return web.json_response({"agents": [a.model_dump() for a in agents if in_scope(scope, a.labels)]})


async def _agent_in_scope(request: web.Request) -> AgentInfo:
    agent_id = request.match_info["id"]
    agent = await registry.get_agent(request.app[STORE], agent_id, request.app[SETTINGS].offline_after)
    if not in_scope(request[OPERATOR].scope, agent.labels):
        raise NotFound(name="id", detail=f"no agent has id {agent_id!r}")
    return agent


async def get_agent(request: web.Request) -> web.Response:
    """GET /api/agents/{id}."""
    return model_response(await _agent_in_scope(request))


async def patch_agent(request: web.Request) -> web.Response:
    """PATCH /api/agents/{id}: {"labels": {...}} merges labels (null removes one)."""
    body = await read_object(request)
    if set(body) - {"labels"}:
        raise InvalidParameter(sorted(set(body) - {"labels"})[0], "only labels can be changed")
    current = await _agent_in_scope(request)
    change = body.get("labels", {})
    if isinstance(change, dict):  # a scoped key must not move the agent out of its own reach
        merged = {**current.labels, **change}
        if not in_scope(request[OPERATOR].scope, {k: v for k, v in merged.items() if v is not None}):
            raise InvalidParameter("labels", "a scoped key cannot move an agent out of its scope")
    agent = await registry.update_labels(
        request.app[STORE], request.match_info["id"], change, request.app[SETTINGS].offline_after
    )
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, request[OPERATOR], "agent.labels",
                       agents=[agent.id], labels=json.dumps(agent.labels))
    return model_response(agent)


async def delete_agent(request: web.Request) -> web.Response:
    """DELETE /api/agents/{id}: revoke the agent."""
    agent = await _agent_in_scope(request)
    await registry.revoke(request.app[STORE], agent.id)
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, request[OPERATOR], "agent.revoke",
                       agents=[agent.id], name=agent.name)
    return web.Response(status=204)


async def create_join_token_handler(request: web.Request) -> web.Response:
    """POST /api/join-tokens: {"labels": {...}, "ttl": "1h", "name": N, "address": A} -> {"token": ...}."""
    body = await read_object(request)
    pins = {key: body.get(key) or "" for key in ("name", "address")}
    for key, value in pins.items():
        if not isinstance(value, str):
            raise InvalidParameter(key, f"{key} must be a string")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict):
        raise InvalidParameter("labels", "labels must be an object of string values")
    try:
        ttl = parse_duration(str(body.get("ttl", "1h")))
    except SettingsError as err:
        raise InvalidParameter("ttl", str(err)) from err
    operator = request[OPERATOR]
    token = await create_join_token(request.app[STORE], check_labels(labels), ttl, request.app[CA].fingerprint,
                                    name=str(pins["name"]), address=str(pins["address"]), by=operator)
    await audit.record(request.app[STORE], request.app[SETTINGS].audit_maxlen, operator, "join_token.create",
                       join_token=token.split(".", 1)[0], labels=json.dumps(labels), name=str(pins["name"]),
                       address=str(pins["address"]))
    return web.json_response({"token": token, "expires_in": ttl}, status=201)


def _time(request: web.Request, name: str) -> float | None:
    """An ISO 8601 time or a Unix timestamp from the query."""
    text = request.query.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidParameter(name, f"{name} must be an ISO 8601 time or a Unix timestamp") from err
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def list_audit(request: web.Request) -> web.Response:
    """GET /api/audit?limit=N&operator=ID&agent=ID&since=T&until=T: the newest matching entries."""
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError as err:
        raise InvalidParameter("limit", "limit must be an integer") from err
    store = request.app[STORE]
    entries = await audit.query(
        store, limit=limit, operator=request.query.get("operator") or None, agent=request.query.get("agent") or None,
        since=_time(request, "since"), until=_time(request, "until"),
    )
    scope = request[OPERATOR].scope
    if scope:  # a scoped key sees entries about agents that are all inside its scope
        directory = await store.directory()
        entries = [
            entry for entry in entries
            if entry.get("agent") and all(
                in_scope(scope, directory.get(agent_id, {}).get("labels", {}))
                for agent_id in str(entry["agent"]).split(",")
            )
        ]
    return web.json_response({"entries": entries})
