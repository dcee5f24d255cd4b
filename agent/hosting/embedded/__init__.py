"""The embedded host: a supervisor (HTTP.sys + WAS roles) and worker processes running IIS-named modules."""

from __future__ import annotations

from agent.hosting.embedded.host import EmbeddedHost
from agent.hosting.embedded.stats import (
    CacheSnapshot,
    HostSnapshot,
    PoolSnapshot,
    RequestSnapshot,
    SiteSnapshot,
    WorkerSnapshot,
)

__all__ = [
    "CacheSnapshot", "EmbeddedHost", "HostSnapshot", "PoolSnapshot", "RequestSnapshot", "SiteSnapshot",
    "WorkerSnapshot",
]  # fmt: skip
