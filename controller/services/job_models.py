"""Wire models of fleet jobs: the request (target, params, strategy) and the per-agent result statuses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
STEP_STATUSES = ("pending", "queued", "waiting", "running", "retrying", "succeeded", "failed", "skipped", "cancelled")
STEP_DONE = frozenset({"succeeded", "failed", "skipped", "cancelled"})
"""A step in one of these states never runs again in this job."""
MAX_PARALLELISM = 1000
"""Upper bound of a job's `parallelism`: steps in flight share one worker loop and its agent connections."""


class Strict(BaseModel):
    """Unknown members are refused, so a typo is an error and not a silently ignored option."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)  # docstrings: OpenAPI descriptions


class HealthCheck(Strict):
    """A request to the site on its binding, made from the worker after each step."""

    path: str = Field(default="/", pattern=r"^/")
    expect_status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None
    timeout: float = Field(default=15.0, gt=0, le=300)
    """Seconds to keep trying until the answer matches."""


class Strategy(Strict):
    """How a job rolls out: batches in order, a failure budget, verification and retries."""

    batch_size: int = Field(default=0, ge=0)
    """Agents per batch; 0 means all at once."""
    max_failures: int | None = Field(default=None, ge=1)
    """Stop starting new hosts once this many have failed; None never stops early."""
    health_check: HealthCheck | None = None
    retries: int = Field(default=3, ge=0, le=20)
    """Retries of a step after transient errors (connection errors, 5xx)."""
    retry_delay: float = Field(default=1.0, gt=0, le=300)
    """Base of the jittered exponential backoff, in seconds."""
    parallelism: int | None = Field(default=None, ge=1, le=MAX_PARALLELISM)
    """At most this many steps of the job run at the same time (default: the controller's job_parallelism)."""
    stall_timeout: float | None = Field(default=None, gt=0)
    """Mark the job failed after this many seconds without progress (default: the controller's setting)."""


class Target(Strict):
    """Agents by id, or every agent whose labels include all of these."""

    agents: list[str] | None = None
    labels: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if (self.agents is None) == (self.labels is None):
            raise ValueError("give exactly one of target.agents and target.labels")
        return self


class JobRequest(Strict):
    """POST /api/jobs."""

    action: str
    target: Target
    params: dict[str, Any] = Field(default_factory=dict)
    strategy: Strategy = Field(default_factory=Strategy)
