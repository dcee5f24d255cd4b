"""Fleet views computed from the registry and heartbeat summaries: Prometheus targets and aggregates."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from controller.auth.roles import in_scope
from controller.services.registry import is_online
from controller.store import FleetStore


@dataclass(slots=True)
class FleetAggregates:
    """What the controller's /metrics publishes about the fleet."""

    agents: list[tuple[str, str, bool]] = field(default_factory=list)
    """(agent id, name, online) for every agent."""
    pools_by_state: Counter[str] = field(default_factory=Counter)
    sites_by_state: Counter[str] = field(default_factory=Counter)
    site_rps: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    pool_rps: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    pool_states: list[tuple[str, str, str]] = field(default_factory=list)
    """(agent name, pool, state) for pools of online agents."""
    worker_starts: list[tuple[str, str, int]] = field(default_factory=list)
    """(agent name, pool, worker processes started so far) where the agent knows it."""


async def _directory(store: FleetStore, scope: dict[str, str] | None) -> list[tuple[str, dict[str, Any]]]:
    """The directory sorted by agent id, limited to the agents inside `scope` (all without one)."""
    entries = sorted((await store.directory()).items())
    return [(agent_id, entry) for agent_id, entry in entries if in_scope(scope or {}, entry["labels"])]


async def prometheus_targets(store: FleetStore, scope: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Prometheus HTTP service discovery groups: one per agent (inside `scope`), with its labels."""
    groups: list[dict[str, Any]] = []
    for agent_id, entry in await _directory(store, scope):
        parts = urlsplit(entry["url"])
        if not parts.hostname or parts.port is None:
            continue
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        labels = {"agent": entry["name"], "agent_id": agent_id, "__scheme__": "https", **entry["labels"]}
        groups.append({"targets": [f"{host}:{parts.port}"], "labels": labels})
    return groups


async def aggregates(store: FleetStore, offline_after: float, scope: dict[str, str] | None = None) -> FleetAggregates:
    """Sum the latest heartbeat summaries of online agents (inside `scope`)."""
    now = time.time()
    seen = await store.last_seen()
    result = FleetAggregates()
    online: list[tuple[str, str]] = []
    for agent_id, entry in await _directory(store, scope):
        up = is_online(seen.get(agent_id), now, offline_after)
        result.agents.append((agent_id, entry["name"], up))
        if up:
            online.append((agent_id, entry["name"]))
    summaries = await store.summaries([agent_id for agent_id, _ in online])
    for (_agent_id, name), raw in zip(online, summaries, strict=True):
        if not raw:
            continue
        summary = json.loads(raw)
        for site, (status, _total, rps) in summary.get("sites", {}).items():
            result.sites_by_state[status] += 1
            result.site_rps[site] += rps
        for pool, (status, _total, rps, starts) in summary.get("pools", {}).items():
            result.pools_by_state[status] += 1
            result.pool_rps[pool] += rps
            result.pool_states.append((name, pool, status))
            if starts is not None:
                result.worker_starts.append((name, pool, int(starts)))
    return result
