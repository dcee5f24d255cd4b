"""The agent registry: list, show, relabel and revoke agents; online/offline from the last heartbeat."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from controller.services.credentials import check_labels
from controller.services.errors import InvalidRequest, UnknownAgent
from controller.store import FleetStore
from shared.models import AgentFacts, AgentInfo


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def is_online(last_seen: float | None, now: float, offline_after: float) -> bool:
    """Online while the last heartbeat is younger than `offline_after` (missed heartbeats x interval)."""
    return last_seen is not None and now - last_seen <= offline_after


def agent_info(agent_id: str, record: Mapping[str, str], last_seen: float | None, offline_after: float) -> AgentInfo:
    """An AgentInfo from a stored record."""
    return AgentInfo(
        id=agent_id,
        name=record.get("name", ""),
        url=record.get("url", ""),
        labels=json.loads(record.get("labels") or "{}"),
        facts=AgentFacts.model_validate_json(record.get("facts") or "{}"),
        status="online" if is_online(last_seen, time.time(), offline_after) else "offline",
        last_seen=_iso(last_seen),
        enrolled_on=record.get("enrolled_on", ""),
        certificate_expires_on=record.get("cert_expires_on", ""),
    )


async def list_agents(store: FleetStore, offline_after: float) -> list[AgentInfo]:
    """Every agent, by name."""
    ids = await store.agent_ids()
    records = await store.agents(ids)
    seen = await store.last_seen()
    infos = [
        agent_info(agent_id, record, seen.get(agent_id), offline_after)
        for agent_id, record in zip(ids, records, strict=True)
        if record
    ]
    return sorted(infos, key=lambda info: (info.name, info.id))


async def get_agent(store: FleetStore, agent_id: str, offline_after: float) -> AgentInfo:
    """One agent, or UnknownAgent."""
    record = await store.agent(agent_id)
    if not record:
        raise UnknownAgent(f"no agent has id {agent_id!r}")
    seen = await store.last_seen()
    return agent_info(agent_id, record, seen.get(agent_id), offline_after)


async def update_labels(
    store: FleetStore, agent_id: str, labels: object, offline_after: float, *, replace: bool = False
) -> AgentInfo:
    """Merge (or replace) an agent's labels; a null value removes a label."""
    if not isinstance(labels, dict):
        raise InvalidRequest("labels must be an object of string values")
    current = await get_agent(store, agent_id, offline_after)
    merged: dict[str, object] = {} if replace else dict(current.labels)
    for key, value in labels.items():
        if value is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = value
    await store.put_agent(agent_id, {"labels": json.dumps(check_labels(merged))})
    return await get_agent(store, agent_id, offline_after)


async def revoke(store: FleetStore, agent_id: str) -> None:
    """Forget an agent and invalidate its certificates: it is refused from now on."""
    if not await store.delete_agent(agent_id):
        raise UnknownAgent(f"no agent has id {agent_id!r}")
