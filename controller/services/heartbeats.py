"""Heartbeats: record when an agent was seen, its facts, and its summary with request rates.

The stored summary is compact JSON, `{"ts": t, "sites": {name: [status, total, rps]},
"pools": {name: [status, total, rps, worker_starts]}}`; rates come from the previous heartbeat's totals.
"""

from __future__ import annotations

import json
import time
from typing import Any

from controller.services.errors import UnknownAgent
from controller.store import FleetStore
from shared.models import HeartbeatRequest


def _rate(previous: list[Any] | None, total: int | None, elapsed: float) -> float:
    if total is None or previous is None or previous[1] is None or elapsed <= 0:
        return 0.0
    delta = total - int(previous[1])
    # A counter that went down means the agent restarted; report no rate rather than a negative one.
    return round(delta / elapsed, 3) if delta >= 0 else 0.0


def build_summary(request: HeartbeatRequest, previous_json: str | None, now: float) -> dict[str, Any]:
    """The stored summary for this heartbeat, with rates against the previous one."""
    previous: dict[str, Any] = json.loads(previous_json) if previous_json else {}
    elapsed = now - float(previous.get("ts", now))
    old_sites: dict[str, list[Any]] = previous.get("sites", {})
    old_pools: dict[str, list[Any]] = previous.get("pools", {})
    sites = {
        s.name: [s.status, s.requests_total, _rate(old_sites.get(s.name), s.requests_total, elapsed)]
        for s in request.summary.sites
    }
    pools = {
        p.name: [
            p.status,
            p.requests_total,
            _rate(old_pools.get(p.name), p.requests_total, elapsed),
            p.worker_starts_total,
        ]
        for p in request.summary.pools
    }
    return {"ts": now, "sites": sites, "pools": pools}


async def record(store: FleetStore, agent_id: str, request: HeartbeatRequest) -> None:
    """Store one heartbeat (facts carry the current site and pool counts)."""
    now = time.time()
    summary = build_summary(request, await store.summary(agent_id), now)
    facts = request.facts.model_copy(
        update={"site_count": len(request.summary.sites), "pool_count": len(request.summary.pools)}
    )
    summary_json = json.dumps(summary, separators=(",", ":"))
    if not await store.record_heartbeat(agent_id, now, facts.model_dump_json(), summary_json):
        raise UnknownAgent(f"agent {agent_id} was revoked while its heartbeat was in flight")
