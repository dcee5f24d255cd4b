"""The runtime contract of every host backend: status values and snapshots (sites, pools, workers, requests).

Monitoring, the API and the controller link read runtime state only through these types; each backend
(embedded, iis) fills them from its own sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RuntimeStatus(StrEnum):
    """The upstream status values of sites, pools and the web server."""

    STARTED = "started"
    STOPPED = "stopped"
    STARTING = "starting"
    STOPPING = "stopping"
    UNKNOWN = "unknown"


# The verbs IIS's Web Service counters count one by one (`Total Get Requests`, ...): SiteSnapshot.method_counts
# holds only these, and every other method is "other" (requests_total minus these).
COUNTED_METHODS = frozenset(
    ("COPY", "DELETE", "GET", "HEAD", "LOCK", "MKCOL", "MOVE", "OPTIONS", "POST", "PROPFIND", "PROPPATCH", "PUT",
     "SEARCH", "TRACE", "UNLOCK")
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSnapshot:
    """A request in flight."""

    id: int
    method: str
    url: str
    host: str
    client: str
    site: str
    pool: str
    worker_pid: int
    elapsed_ms: int
    stage: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSnapshot:
    """One worker process."""

    pid: int
    pool: str
    state: str
    started_at: float
    requests_total: int
    requests_active: int
    requests: tuple[RequestSnapshot, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSnapshot:
    """One application pool."""

    name: str
    state: RuntimeStatus
    requests_total: int
    recycles: int
    recent_crashes: int
    worker_starts: int
    workers: tuple[WorkerSnapshot, ...]
    failures_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSnapshot:
    """One site's state and traffic counters."""

    name: str
    id: int
    state: RuntimeStatus
    error: str
    requests_total: int
    requests_active: int
    bytes_sent: int
    bytes_received: int
    connections_current: int
    connections_total: int
    connections_refused: int
    status_counts: dict[int, int]
    cache_hits: int = 0
    cache_misses: int = 0
    method_counts: dict[str, int] = field(default_factory=dict)
    """Requests per verb IIS counts separately (GET, POST, ...); the rest of requests_total is "other"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSnapshot:
    """The kernel response cache (HTTP.sys's "Kernel: URI cache" counters)."""

    enabled: bool = False
    hits: int = 0
    misses: int = 0
    items: int = 0
    bytes: int = 0
    items_added: int = 0
    items_flushed: int = 0
    flushes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSnapshot:
    """Everything a host runs, at one instant."""

    server_state: RuntimeStatus
    taken_at: float
    sites: dict[str, SiteSnapshot]
    pools: dict[str, PoolSnapshot]
    cache: CacheSnapshot = CacheSnapshot()
