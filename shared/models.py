"""Frozen wire DTOs the controller and the agent exchange (enrollment, renewal, heartbeats, registry)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Sizes a heartbeat may carry: a host with more is summarised by its first entries (the rest still count).
MAX_NAME = 256
MAX_ENTRIES = 20_000


class _Dto(BaseModel):
    # Unknown members are ignored so an older controller accepts a newer agent's heartbeat and vice versa.
    model_config = ConfigDict(frozen=True, extra="ignore")


class PoolSummary(_Dto):
    """One application pool in a heartbeat: runtime state and cumulative counters (None = not known)."""

    name: str = Field(max_length=MAX_NAME)
    status: str = Field(default="unknown", max_length=32)
    requests_total: int | None = Field(default=None, ge=0)
    worker_starts_total: int | None = Field(default=None, ge=0)


class SiteSummary(_Dto):
    """One site in a heartbeat."""

    name: str = Field(max_length=MAX_NAME)
    status: str = Field(default="unknown", max_length=32)
    requests_total: int | None = Field(default=None, ge=0)


class HostSummary(_Dto):
    """What a heartbeat says about the host's sites and pools."""

    sites: list[SiteSummary] = Field(default_factory=list, max_length=MAX_ENTRIES)
    pools: list[PoolSummary] = Field(default_factory=list, max_length=MAX_ENTRIES)


class AgentFacts(_Dto):
    """Facts an agent reports about itself."""

    os: str = ""
    hostname: str = ""
    agent_version: str = ""
    python: str = ""
    host_backend: str = ""
    site_count: int = 0
    pool_count: int = 0


class EnrollRequest(_Dto):
    """POST /api/enroll: join token, CSR, where to reach the agent and the API key the controller uses."""

    token: str = Field(max_length=512)
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str = Field(max_length=512, pattern=r"^https://")
    csr: str = Field(max_length=16_384)
    api_key: str = Field(min_length=16, max_length=1024)
    facts: AgentFacts = Field(default_factory=AgentFacts)


class EnrollResponse(_Dto):
    """The new agent's id, certificate, the CA and the heartbeat interval."""

    agent_id: str
    certificate: str
    ca: str
    heartbeat_interval: float


class RenewRequest(_Dto):
    """POST /api/agent/renew (mTLS): a CSR for a new key, same name."""

    csr: str = Field(max_length=16_384)


class RenewResponse(_Dto):
    """The renewed certificate."""

    certificate: str


class HeartbeatRequest(_Dto):
    """POST /api/agent/heartbeat (mTLS): current facts and the host summary."""

    facts: AgentFacts = Field(default_factory=AgentFacts)
    summary: HostSummary = Field(default_factory=HostSummary)


class HeartbeatResponse(_Dto):
    """The interval the controller expects heartbeats at, and the client certificates agents must refuse."""

    heartbeat_interval: float
    revoked_client_serials: list[str] = Field(default_factory=list)
    """Serials (lowercase hex) of revoked, unexpired scrape certificates; the whole list every time (expired
    ones drop out, so it stays short; no cap, as a cap would fail every heartbeat once reached)."""


class AgentInfo(_Dto):
    """An agent as the registry shows it."""

    id: str
    name: str
    url: str
    labels: dict[str, str]
    facts: AgentFacts
    status: str
    last_seen: str | None
    enrolled_on: str
    certificate_expires_on: str
