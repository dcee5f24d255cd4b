"""Bootstrap status records in Redis, under the store's prefix (kept here so controller/store.py stays untouched).

Keys (under the configured prefix)::

    bootstrap:{id}    hash   request summary (no credentials), status, step, agent_id, error, output, times, deadline

Records expire a week after their last change. A record still `running` after its deadline belongs to a
controller process that stopped mid-way (the bootstrap runs in the API process that accepted it, so the
credentials never leave its memory) and is shown as failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from controller.store import FleetStore

RECORD_TTL = 7 * 86400
OUTPUT_LIMIT = 8000
SUMMARY_FIELDS = ("transport", "host", "port", "username", "name", "address", "agent_port", "install_dir")


def _key(store: FleetStore, bootstrap_id: str) -> str:
    return f"{store.prefix}bootstrap:{bootstrap_id}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def create(store: FleetStore, bootstrap_id: str, fields: Mapping[str, str]) -> None:
    """Store a new record."""
    key = _key(store, bootstrap_id)
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=dict(fields))
        pipe.expire(key, RECORD_TTL)
        await pipe.execute()


async def update(store: FleetStore, bootstrap_id: str, **fields: str) -> None:
    """Change some fields and the update time."""
    key = _key(store, bootstrap_id)
    if "output" in fields:
        fields["output"] = fields["output"][-OUTPUT_LIMIT:]
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={**fields, "updated_on": _iso(time.time())})
        pipe.expire(key, RECORD_TTL)
        await pipe.execute()


async def view(store: FleetStore, bootstrap_id: str, now: float | None = None) -> dict[str, Any] | None:
    """The status resource, or None for an unknown (or expired) id."""
    raw: dict[str, str] = dict(await store.redis.hgetall(_key(store, bootstrap_id)))
    if not raw:
        return None
    status, error = raw.get("status", ""), raw.get("error") or None
    if status == "running" and (now or time.time()) > float(raw.get("deadline", "0")):
        status, error = "failed", "the controller process running this bootstrap stopped before it finished"
    summary: dict[str, Any] = {name: raw.get(name, "") for name in SUMMARY_FIELDS}
    summary["port"] = int(summary["port"] or 0)
    summary["agent_port"] = int(summary["agent_port"] or 0)
    return {
        "id": bootstrap_id,
        "status": status,
        "step": raw.get("step", ""),
        **summary,
        "labels": json.loads(raw.get("labels") or "{}"),
        "agent_id": raw.get("agent_id") or None,
        "host_key_fingerprint": raw.get("host_key_fingerprint") or None,
        "controller_url": raw.get("controller_url") or None,
        "error": error,
        "output": raw.get("output", ""),
        "created_on": raw.get("created_on", ""),
        "updated_on": raw.get("updated_on", ""),
        "operator": ({"id": raw["operator"], "purpose": raw.get("operator_purpose", "")}
                     if raw.get("operator") else None),
        "_links": {"self": {"href": f"/api/bootstrap/{bootstrap_id}"}},
    }
