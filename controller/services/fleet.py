"""Fleet views computed from the registry: Prometheus HTTP service discovery targets (/metrics: metrics.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from controller.auth.roles import in_scope
from controller.store import FleetStore


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
