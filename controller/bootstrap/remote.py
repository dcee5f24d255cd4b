"""What the bootstrap needs from a connected target, whatever the transport (SSH or WinRM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controller.bootstrap.plan import AgentPlan


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A remote command's exit status and its output (stdout, then stderr)."""

    exit_status: int
    output: str


class Remote(Protocol):
    """A connected, authenticated and verified target."""

    @property
    def host_key_fingerprint(self) -> str | None:
        """The verified host key (SSH), or None."""

    @property
    def local_address(self) -> str | None:
        """The controller's own address on this connection: one the target can route back to."""

    async def put(self, path: str, data: bytes) -> None:
        """Write a file on the target (its directory is created)."""

    async def install(self, plan: AgentPlan) -> CommandResult:
        """Run the plan's install-and-start script."""

    async def log_tail(self, plan: AgentPlan) -> str:
        """The end of the agent's log, for a failure report."""

    async def close(self) -> None:
        """Disconnect."""
