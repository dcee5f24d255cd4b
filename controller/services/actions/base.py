"""What every action gets (StepContext) and what declares one (ActionSpec)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel

from controller.services.agent_client import AgentClient, PermanentError
from controller.services.job_models import Strategy
from controller.settings import ControllerSettings
from controller.store import FleetStore


@dataclass(slots=True, kw_only=True)
class StepContext:
    """One agent's step of one job: the agent client, the job's strategy and the step's recorded facts."""

    store: FleetStore
    settings: ControllerSettings
    client: AgentClient
    probe: aiohttp.ClientSession
    job_id: str
    agent_id: str
    job: dict[str, str]
    strategy: Strategy
    owner: str
    fence: int
    facts: dict[str, str] = field(default_factory=dict)

    async def remember(self, **fields: str) -> None:
        """Record facts of this step in Redis, so a redelivered task sees what was already done or chosen."""
        self.facts.update(fields)
        await self.store.record_step(self.job_id, self.agent_id, fields)

    async def guard(self) -> None:
        """Refuse to change the agent when another holder took its lock (we were presumed dead)."""
        if not await self.store.fence_holds(self.agent_id, self.owner, self.fence):
            raise PermanentError("lost the agent's change lock to a newer holder; stopping without changes")

    @property
    def created(self) -> float:
        """When the job was created (stable across retries and redeliveries)."""
        return float(self.job["created"])


Run = Callable[[StepContext, Any], Awaitable[dict[str, Any]]]
Check = Callable[[Any, ControllerSettings], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSpec:
    """One job action: its params model, the step that runs it on an agent, and a submit-time check."""

    name: str
    params: type[BaseModel]
    run: Run
    summary: str
    check: Check | None = None
