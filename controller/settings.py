"""ControllerSettings: command-line values plus `CONTROLLER_*` environment variables, read once at startup."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 55540
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class SettingsError(ValueError):
    """A setting that does not parse; the message names it."""


def parse_duration(text: str) -> float:
    """Seconds in "90", "45s", "30m", "1h" or "7d"."""
    match = _DURATION.match(text)
    if not match:
        raise SettingsError(f"{text!r} is not a duration such as 45s, 30m, 1h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerSettings:
    """Everything the controller processes need to know, frozen after startup."""

    state_dir: Path
    address: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    redis_url: str | None = None
    redis_prefix: str = "iisfleet:"
    heartbeat_interval: float = 15.0
    missed_heartbeats: int = 3
    agent_cert_ttl: float = 30 * 86400.0
    tls_names: tuple[str, ...] = ()
    audit_maxlen: int = 100_000
    visibility_timeout: float = 900.0
    """Seconds before Redis hands an unacknowledged task to another worker; steps stay far below it."""
    job_stall_timeout: float = 600.0
    """A running job with no event for this long is marked failed by the reaper."""
    agent_lock_ttl: float = 300.0
    """Lifetime of a per-agent change lock whose holder died without releasing it."""
    artifact_max_bytes: int = 4 * 1024**3
    artifact_max_unpacked: int = 16 * 1024**3
    """Refuse archives that would unpack to more than this (compression bombs)."""
    worker_concurrency: int = 16
    session_lifetime: float = 12 * 3600.0
    """Longest life of a console session; a session never outlives its operator key."""
    cors_origins: tuple[str, ...] = ("https://manage.iis.net",)
    """Browser origins that may call the gateway with credentials (upstream's appsettings.json default)."""
    retention: float = 30 * 86400.0
    """Finished jobs (history, events, results, step facts), artifacts, audit entries and retired serials
    older than this are removed."""
    auth_max_failures: int = 20
    """Failed authentications from one address within auth_failure_window before it is answered 429."""
    auth_failure_window: float = 60.0
    keepalive_timeout: float = 15.0
    """Seconds an idle connection stays open, and a client has to send a request head (controller/limits.py)."""
    max_connections: int = 1024
    """Concurrent connections per controller process; more are closed at once."""
    job_parallelism: int = 100
    """How many steps of one batch a worker runs at the same time."""

    @property
    def offline_after(self) -> float:
        """Seconds without a heartbeat after which an agent counts as offline."""
        return self.heartbeat_interval * self.missed_heartbeats

    @property
    def pki_dir(self) -> Path:
        """Where the CA and the controller's own certificate live."""
        return self.state_dir / "pki"

    @property
    def artifact_dir(self) -> Path:
        """Where uploaded deploy artifacts live, content-addressed by sha256."""
        return self.state_dir / "artifacts"


def _env_float(environ: Mapping[str, str], name: str, default: float, *, duration: bool = False) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse_duration(raw) if duration else float(raw)
    except (SettingsError, ValueError) as err:
        raise SettingsError(f"{name}: {err}") from err
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def load_settings(
    state_dir: Path,
    *,
    address: str | None = None,
    port: int | None = None,
    redis_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ControllerSettings:
    """Combine command-line values (which win) with the `CONTROLLER_` environment."""
    env = os.environ if environ is None else environ
    names = tuple(n.strip() for n in env.get("CONTROLLER_TLS_NAMES", "").split(",") if n.strip())
    origins = env.get("CONTROLLER_CORS_ORIGINS")
    cors = ("https://manage.iis.net",) if origins is None else tuple(
        o.strip().rstrip("/") for o in origins.split(",") if o.strip())
    return ControllerSettings(
        state_dir=state_dir.resolve(),
        address=address or env.get("CONTROLLER_ADDRESS") or "0.0.0.0",
        port=port or int(env.get("CONTROLLER_PORT") or DEFAULT_PORT),
        redis_url=redis_url or env.get("CONTROLLER_REDIS_URL") or None,
        redis_prefix=env.get("CONTROLLER_REDIS_PREFIX") or "iisfleet:",
        heartbeat_interval=_env_float(env, "CONTROLLER_HEARTBEAT_INTERVAL", 15.0, duration=True),
        missed_heartbeats=int(_env_float(env, "CONTROLLER_MISSED_HEARTBEATS", 3)),
        agent_cert_ttl=_env_float(env, "CONTROLLER_AGENT_CERT_TTL", 30 * 86400.0, duration=True),
        tls_names=names,
        audit_maxlen=int(_env_float(env, "CONTROLLER_AUDIT_MAXLEN", 100_000)),
        visibility_timeout=_env_float(env, "CONTROLLER_VISIBILITY_TIMEOUT", 900.0, duration=True),
        job_stall_timeout=_env_float(env, "CONTROLLER_JOB_STALL_TIMEOUT", 600.0, duration=True),
        agent_lock_ttl=_env_float(env, "CONTROLLER_AGENT_LOCK_TTL", 300.0, duration=True),
        artifact_max_bytes=int(_env_float(env, "CONTROLLER_ARTIFACT_MAX_BYTES", 4 * 1024.0**3)),
        artifact_max_unpacked=int(_env_float(env, "CONTROLLER_ARTIFACT_MAX_UNPACKED", 16 * 1024.0**3)),
        worker_concurrency=int(_env_float(env, "CONTROLLER_WORKER_CONCURRENCY", 16)),
        session_lifetime=_env_float(env, "CONTROLLER_SESSION_LIFETIME", 12 * 3600.0, duration=True),
        cors_origins=cors,
        retention=_env_float(env, "CONTROLLER_RETENTION", 30 * 86400.0, duration=True),
        auth_max_failures=int(_env_float(env, "CONTROLLER_AUTH_MAX_FAILURES", 20)),
        auth_failure_window=_env_float(env, "CONTROLLER_AUTH_FAILURE_WINDOW", 60.0, duration=True),
        keepalive_timeout=_env_float(env, "CONTROLLER_KEEPALIVE_TIMEOUT", 15.0, duration=True),
        max_connections=int(_env_float(env, "CONTROLLER_MAX_CONNECTIONS", 1024)),
        job_parallelism=int(_env_float(env, "CONTROLLER_JOB_PARALLELISM", 100)),
    )
