"""The Host protocol: what runs the configuration (start, stop, recycle, status, snapshots).

The API layer and monitoring read and change runtime state only through a Host (its types are in
runtime_types.py). The embedded host (Linux data plane) and the IIS host (appcmd on Windows) implement it;
`UnavailableHost` stands in until one is configured, reporting `unknown` and refusing changes with 503
rather than pretending.
"""

from __future__ import annotations

from typing import Protocol

from agent.hosting.runtime_types import HostSnapshot, RuntimeStatus
from shared.errors import ServiceUnavailable

__all__ = ["Host", "ManagedHost", "RuntimeStatus", "UnavailableHost"]


class Host(Protocol):
    """Runtime control of sites, application pools and the web server service."""

    name: str

    def site_status(self, site_name: str) -> RuntimeStatus:
        """The runtime state of a site."""
        ...

    def pool_status(self, pool_name: str) -> RuntimeStatus:
        """The runtime state of an application pool."""
        ...

    def server_status(self) -> RuntimeStatus:
        """The runtime state of the web server service (W3SVC)."""
        ...

    @property
    def runtime_version(self) -> int | None:
        """A number that changes whenever any status above changes; None when the backend cannot tell."""
        ...

    async def start_site(self, site_name: str) -> None:
        """Start a site: bind its listeners."""
        ...

    async def stop_site(self, site_name: str) -> None:
        """Stop a site: release its bindings."""
        ...

    async def start_pool(self, pool_name: str) -> None:
        """Start an application pool."""
        ...

    async def stop_pool(self, pool_name: str) -> None:
        """Stop an application pool; its applications answer 503."""
        ...

    async def recycle_pool(self, pool_name: str) -> None:
        """Replace the pool's worker processes without dropping requests."""
        ...

    async def start_server(self) -> None:
        """Start the web server service (W3SVC): auto-start pools and sites."""
        ...

    async def stop_server(self) -> None:
        """Stop the web server service: every binding released, every worker stopped."""
        ...

    def snapshot(self) -> HostSnapshot | None:
        """Counters and state of every site, pool, worker and in-flight request; None without runtime state."""
        ...


class ManagedHost(Host, Protocol):
    """A host backend the agent runs for its lifetime."""

    async def start(self) -> None:
        """Start what the configuration says should run."""
        ...

    async def close(self) -> None:
        """Stop everything this backend started."""
        ...


class UnavailableHost:
    """No host backend is running: status is `unknown` and every change answers 503."""

    name = "none"

    def __init__(self, reason: str = "no host backend is running on this agent") -> None:
        self.reason = reason

    def site_status(self, site_name: str) -> RuntimeStatus:
        """Unknown: nothing runs the site."""
        return RuntimeStatus.UNKNOWN

    def pool_status(self, pool_name: str) -> RuntimeStatus:
        """Unknown: nothing runs the pool."""
        return RuntimeStatus.UNKNOWN

    def server_status(self) -> RuntimeStatus:
        """Unknown: nothing runs the web server."""
        return RuntimeStatus.UNKNOWN

    @property
    def runtime_version(self) -> int | None:
        """Never changes: every status stays unknown."""
        return 0

    def _refuse(self, action: str, target: str) -> ServiceUnavailable:
        return ServiceUnavailable(detail=f"Cannot {action} {target}: {self.reason}.", name="status")

    async def start_site(self, site_name: str) -> None:
        """Refuse: there is nothing to start."""
        raise self._refuse("start site", repr(site_name))

    async def stop_site(self, site_name: str) -> None:
        """Refuse: there is nothing to stop."""
        raise self._refuse("stop site", repr(site_name))

    async def start_pool(self, pool_name: str) -> None:
        """Refuse: there is nothing to start."""
        raise self._refuse("start application pool", repr(pool_name))

    async def stop_pool(self, pool_name: str) -> None:
        """Refuse: there is nothing to stop."""
        raise self._refuse("stop application pool", repr(pool_name))

    async def recycle_pool(self, pool_name: str) -> None:
        """Refuse: there is nothing to recycle."""
        raise self._refuse("recycle application pool", repr(pool_name))

    async def start_server(self) -> None:
        """Refuse: no backend runs the web server."""
        raise self._refuse("start", "the web server")

    async def stop_server(self) -> None:
        """Refuse: no backend runs the web server."""
        raise self._refuse("stop", "the web server")

    def snapshot(self) -> HostSnapshot | None:
        """None: nothing runs, so there are no counters."""
        return None
