"""What monitoring needs of a host backend, checked structurally (the embedded host has it; others may not)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent.hosting.embedded.stats import HostSnapshot


@runtime_checkable
class Observable(Protocol):
    """A host that can copy its live counters into a snapshot."""

    def snapshot(self) -> HostSnapshot:
        """Counters and state of every site, pool, worker and in-flight request."""
        ...


@runtime_checkable
class ServerControl(Protocol):
    """A host that can start and stop the web server service as a whole (W3SVC)."""

    async def start_server(self) -> None:
        """Start the service: auto-start pools and sites."""
        ...

    async def stop_server(self) -> None:
        """Stop the service: every binding released, every worker stopped."""
        ...


def snapshot_of(host: object) -> HostSnapshot | None:
    """The host's snapshot, or None when the backend reports no runtime state."""
    return host.snapshot() if isinstance(host, Observable) else None
