"""The controller's audit stream: who (operator key id, purpose, role) did what to which agents, and when.

Entries are flat string maps in one capped Redis stream (controller/store.py, `audit`). Gateway calls carry
method, path and status; jobs, join tokens, revocations, bootstraps and key changes carry their own fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from controller.auth.operators import Operator
from controller.store import FleetStore

log = logging.getLogger("iisfleet.controller.audit")
SCAN_LIMIT = 20_000
"""Entries a filtered query looks at, at most (newest first)."""
PAGE = 500


async def record(
    store: FleetStore, maxlen: int, operator: Operator, action: str, *, agents: Iterable[str] = (), **fields: str
) -> None:
    """Append one entry; a failing audit write is logged, never turned into a failed request."""
    entry = {
        "action": action,
        **operator.attribution(),
        "agent": ",".join(agents),
        **fields,
        "ts": f"{time.time():.3f}",
    }
    try:
        await store.audit(entry, maxlen)
    except Exception:  # noqa: BLE001 - the action is done; losing its audit line must not undo the answer
        log.exception("could not write the audit entry %s", entry)


def _stream_id(timestamp: float | None, default: str) -> str:
    return default if timestamp is None else str(int(timestamp * 1000))


async def query(
    store: FleetStore,
    *,
    limit: int,
    operator: str | None = None,
    agent: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """The newest entries (newest first) that match every given filter; time bounds are inclusive."""
    newest, oldest = _stream_id(until, "+"), _stream_id(since, "-")
    found: list[dict[str, Any]] = []
    scanned = 0
    while len(found) < limit and scanned < SCAN_LIMIT:
        rows = await store.audit_entries(PAGE, newest=newest, oldest=oldest)
        if not rows:
            break
        for row in rows:
            if (operator is None or row.get("operator") == operator) and (
                agent is None or agent in str(row.get("agent", "")).split(",")
            ):
                found.append(row)
        scanned += len(rows)
        newest = f"({rows[-1]['id']}"
        if len(rows) < PAGE:
            break
    return found[:limit]
