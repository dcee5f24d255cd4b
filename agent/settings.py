"""appsettings.json: the agent's settings file, in upstream's format.

Upstream's members keep their names and meaning; what only this agent needs lives under `iisfleet`.
A file that does not validate stops the agent with a message naming the offending setting.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.fsutil import atomic_write_text


class SettingsError(Exception):
    """appsettings.json is missing, unreadable or invalid; the message names the setting."""


class _Model(BaseModel):
    # Unknown members are kept so a rewrite (host_id) never drops an operator's additions.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AccessPolicy(_Model):
    """One `security.access_policy.<name>` entry."""

    users: str = "administrators"
    access_key: bool = True
    read_only: bool = False
    forbidden: bool = False


def _default_roles() -> dict[str, list[str]]:
    return {"administrators": [], "owners": []}


def _default_policies() -> dict[str, AccessPolicy]:
    return {
        "api": AccessPolicy(users="administrators", access_key=True),
        "api_keys": AccessPolicy(users="administrators", access_key=False),
        "system": AccessPolicy(users="owners", access_key=True),
    }


class SecuritySettings(_Model):
    """The `security` section."""

    require_windows_authentication: bool = True
    users: dict[str, list[str]] = Field(default_factory=_default_roles)
    access_policy: dict[str, AccessPolicy] = Field(default_factory=_default_policies)

    @model_validator(mode="after")
    def _fill_policies(self) -> SecuritySettings:
        # Upstream forces access_key on for `api` and `system` whatever the file says.
        for name, policy in _default_policies().items():
            self.access_policy.setdefault(name, policy)
        self.access_policy["api"].access_key = True
        self.access_policy["system"].access_key = True
        return self


class LogSettings(_Model):
    """The `logging` and `auditing` sections."""

    enabled: bool = True
    file_name: str = "log-{Date}.txt"
    path: str | None = None
    max_files: int = Field(default=50, ge=1)
    min_level: str = "error"


class CorsRule(_Model):
    """One `cors.rules[]` entry."""

    origin: str
    allow: bool = True


class CorsSettings(_Model):
    """The `cors` section."""

    rules: list[CorsRule] = Field(default_factory=list)


class FileLocation(_Model):
    """One `files.locations[]` entry: a root the files API and path checks may touch."""

    alias: str = ""
    path: str
    claims: list[str] = Field(default_factory=list)

    @field_validator("claims")
    @classmethod
    def _known_claims(cls, claims: list[str]) -> list[str]:
        lowered = [c.lower() for c in claims]
        unknown = sorted(set(lowered) - {"read", "write"})
        if unknown:
            raise ValueError(f"unknown claim {unknown[0]!r}; use 'read' and 'write'")
        return lowered


class FilesSettings(_Model):
    """The `files` section."""

    locations: list[FileLocation] = Field(default_factory=list)
    skip_resolving_symbolic_links: bool = False


class CertificateStoreSettings(_Model):
    """One `certificates.stores[]` entry."""

    name: str
    path: str | None = None
    claims: list[str] = Field(default_factory=lambda: ["read"])


class CertificatesSettings(_Model):
    """The `certificates` section."""

    stores: list[CertificateStoreSettings] = Field(default_factory=list)


class ApiKeysSettings(_Model):
    """The `api_keys` section: read-only keys defined in the settings file."""

    keys: list[dict[str, Any]] = Field(default_factory=list)


class TlsSettings(_Model):
    """The agent's own HTTPS certificate; empty paths mean a self-signed one made on first run."""

    cert_file: str = ""
    key_file: str = ""


class ServerLimits(_Model):
    """Denial-of-service limits of the agent's API server (agent.security.server_limits)."""

    keepalive_timeout: float = Field(default=15.0, gt=0)
    """Idle keep-alive; also how long the next request's headers may take to arrive (same clock in aiohttp)."""
    handshake_timeout: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    auth_failures: int = Field(default=20, ge=1)
    """Failed token checks per client address within `auth_window` seconds before it gets 429."""
    auth_window: float = Field(default=60.0, gt=0)
    hash_workers: int = Field(default=2, ge=1)
    hash_queue: int = Field(default=64, ge=1)
    """Token hashes (PBKDF2) waiting or running at once; beyond that new tokens get 503."""


class IisFleetSettings(_Model):
    """Settings of this agent that upstream has no member for."""

    host_backend: Literal["embedded", "iis"] = "embedded"
    max_request_body: int = Field(default=32 * 1024 * 1024, ge=1024)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    limits: ServerLimits = Field(default_factory=ServerLimits)


class AgentSettings(_Model):
    """The whole appsettings.json."""

    host_id: str = ""
    host_name: str = "IIS Administration API"
    urls: str | None = None
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    logging: LogSettings = Field(default_factory=LogSettings)
    auditing: LogSettings = Field(default_factory=lambda: LogSettings(file_name="audit-{Date}.txt", max_files=100))
    cors: CorsSettings = Field(default_factory=CorsSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    certificates: CertificatesSettings = Field(default_factory=CertificatesSettings)
    api_keys: ApiKeysSettings = Field(default_factory=ApiKeysSettings)
    iisfleet: IisFleetSettings = Field(default_factory=IisFleetSettings)

    @field_validator("host_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if value:
            uuid.UUID(value)
        return value

    @field_validator("urls")
    @classmethod
    def _https_only(cls, value: str | None) -> str | None:
        for url in (value or "").split(";"):
            if url.strip() and not url.strip().lower().startswith("https://"):
                raise ValueError(f"{url.strip()!r} is not https://; the API is served over HTTPS only")
        return value

    @model_validator(mode="after")
    def _windows_auth_needs_windows(self) -> AgentSettings:
        if self.security.require_windows_authentication and not sys.platform.startswith("win"):
            raise ValueError(
                "security.require_windows_authentication is true, but this host is not Windows and has no "
                "Windows authentication; set it to false (access tokens then identify callers, see "
                "docs/compatibility.md)"
            )
        return self


def default_settings(state_dir: Path) -> dict[str, Any]:
    """The appsettings.json written at first run."""
    return {
        "host_id": str(uuid.uuid4()),
        "host_name": "IIS Administration API",
        "security": {
            "require_windows_authentication": sys.platform.startswith("win"),
            "users": {"administrators": [], "owners": []},
            "access_policy": {
                "api": {"users": "administrators", "access_key": True},
                "api_keys": {"users": "administrators", "access_key": False},
                "system": {"users": "owners", "access_key": True},
            },
        },
        "logging": {"enabled": True, "min_level": "error", "file_name": "log-{Date}.txt", "path": None},
        "auditing": {"enabled": True, "file_name": "audit-{Date}.txt", "path": None},
        "cors": {"rules": [{"origin": "https://manage.iis.net", "allow": True}]},
        "files": {
            "locations": [
                {"alias": "inetpub", "path": str(state_dir / "inetpub"), "claims": ["read", "write"]},
            ],
        },
    }


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"setting {where}: {item['msg']}")
    return "; ".join(lines)


def load_settings(path: Path, *, create: bool = True) -> AgentSettings:
    """Read and validate appsettings.json, writing defaults or a new host_id when needed."""
    if not path.exists():
        if not create:
            raise SettingsError(f"{path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(default_settings(path.parent), indent=2) + "\n")
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as err:
        raise SettingsError(f"{path}: cannot read settings: {err}") from err
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: the settings file must hold a JSON object")
    try:
        settings = AgentSettings.model_validate(raw)
    except ValidationError as err:
        raise SettingsError(f"{path}: {_describe(err)}") from err
    if not settings.host_id:
        # Upstream generates the id key material once and persists it, so resource ids stay stable.
        raw["host_id"] = settings.host_id = str(uuid.uuid4())
        atomic_write_text(path, json.dumps(raw, indent=2) + "\n")
    return settings


def expand_path(value: str) -> str:
    """Expand %VAR% and $VAR references the way IIS expands physical paths."""
    return os.path.expandvars(_percent_vars(value))


def _percent_vars(value: str) -> str:
    parts = value.split("%")
    if len(parts) < 3:
        return value
    out = [parts[0]]
    i = 1
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] and parts[i] in os.environ:
            out.append(os.environ[parts[i]])
            out.append(parts[i + 1])
            i += 2
        else:
            out.append("%" + parts[i])
            i += 1
    return "".join(out)
