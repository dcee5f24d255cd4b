"""The desired state of the web server, read from the configuration store once per generation.

Sites, bindings, applications, virtual directories and pools become small frozen dataclasses so the
supervisor can diff two generations with `==` and never touches the XML on the request path.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.security.confine import host_directory
from shared.paths import expand_path

SITES = "system.applicationHost/sites"
POOLS = "system.applicationHost/applicationPools"
# IIS's default log directory; on a host without %SystemDrive% the agent writes under its state directory.
DEFAULT_LOG_DIR = r"%SystemDrive%\inetpub\logs\LogFiles"


class ElementLike(Protocol):
    """What the model reads from agent.iisconfig.ConfigElement."""

    def get(self, attr: str) -> Any:
        """A typed attribute value with IIS defaults."""
        ...

    def child(self, name: str) -> Any:
        """A child element."""
        ...

    def collection(self, name: str | None = None) -> Any:
        """A child collection."""
        ...


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """One http/https binding, with `*` already replaced by the agent's address."""

    protocol: str
    ip: str
    port: int
    host: str
    certificate: str = ""
    store: str = ""  # certificateStoreName
    sni: bool = False  # sslFlags has Sni


@dataclass(frozen=True, slots=True)
class VdirSpec:
    """A virtual directory: a URL path inside its application mapped to a physical path."""

    path: str
    physical_path: str


@dataclass(frozen=True, slots=True)
class AppSpec:
    """An application: its URL path, its pool and its virtual directories (longest path first)."""

    path: str
    pool: str
    vdirs: tuple[VdirSpec, ...]


@dataclass(frozen=True, slots=True)
class LogSpec:
    """A site's logFile settings."""

    enabled: bool = True
    log_format: str = "W3C"
    directory: str = ""
    period: str = "Daily"
    fields: tuple[str, ...] = ()
    local_time_rollover: bool = False
    truncate_size: int = 20971520


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """A site as the supervisor runs it."""

    id: int
    name: str
    auto_start: bool
    bindings: tuple[BindingSpec, ...]
    apps: tuple[AppSpec, ...]
    log: LogSpec = field(default_factory=LogSpec)
    max_bandwidth: int = 4294967295
    max_connections: int = 4294967295
    connection_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """An application pool's process-model, recycling and failure settings."""

    name: str
    auto_start: bool = True
    always_running: bool = False
    max_processes: int = 1
    idle_timeout: float = 1200.0
    shutdown_time_limit: float = 90.0
    startup_time_limit: float = 90.0
    recycle_time: float = 104400.0
    recycle_requests: int = 0
    recycle_private_memory_kb: int = 0
    disallow_rotation_on_config_change: bool = False
    rapid_fail: bool = True
    rapid_fail_interval: float = 300.0
    rapid_fail_max_crashes: int = 5


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """Every site and pool of one configuration generation, keyed by lower-case name."""

    sites: dict[str, SiteSpec]
    pools: dict[str, PoolSpec]


def attr(element: ElementLike, path: str) -> Any:
    """Read `child/child/attribute` from an element."""
    *parents, name = path.split("/")
    for parent in parents:
        element = element.child(parent)
    return element.get(name)


def seconds(value: Any) -> float:
    """A timeSpan value (timedelta, number or `[d.]hh:mm:ss`) in seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    days = 0
    if "." in text.split(":")[0]:
        day_text, text = text.split(".", 1)
        days = int(day_text)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def flag_names(value: Any) -> tuple[str, ...]:
    """Flags text (`Date, Time, ClientIP`) as a tuple of names."""
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(v) for v in value)
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


def parse_binding(protocol: str, information: str, address: str, certificate: str = "") -> BindingSpec | None:
    """`ip:port:host` → BindingSpec; `*` and empty ip mean the agent's address. None if not http(s)."""
    if protocol.lower() not in ("http", "https"):
        return None
    ip_part, sep, rest = information.rpartition(":")
    host = ""
    if sep and ":" in ip_part:
        # ip may itself be bracketed IPv6; split from the right: host is last, port before it.
        ip_part, _, port_text = ip_part.rpartition(":")
        host = rest
    else:
        port_text = rest
    ip = ip_part.strip("[]")
    if ip in ("", "*"):
        ip = address
    try:
        port = int(port_text)
    except ValueError:
        return None
    return BindingSpec(protocol.lower(), ip, port, host.lower(), certificate)


def physical(path: str) -> str:
    """Expand %VAR% in a physical path and turn Windows separators into the host's."""
    expanded = expand_path(path)
    return expanded.replace("\\", "/") if os.sep == "/" else expanded


def _site(site: ElementLike, address: str) -> SiteSpec:
    bindings = []
    for binding in site.collection("bindings"):
        cert = str(binding.get("certificateHash") or "") if _has(binding, "certificateHash") else ""
        spec = parse_binding(str(binding.get("protocol")), str(binding.get("bindingInformation")), address, cert)
        if spec is not None and spec.protocol == "https":
            store = str(binding.get("certificateStoreName") or "") if _has(binding, "certificateStoreName") else ""
            flags = str(binding.get("sslFlags") or "") if _has(binding, "sslFlags") else ""
            sni = "sni" in flags.lower() or (flags.isdigit() and bool(int(flags) & 1))
            spec = dataclasses.replace(spec, store=store, sni=sni)
        if spec is not None:
            bindings.append(spec)
    apps = []
    for app in site.collection():
        vdirs = [VdirSpec(str(v.get("path")), physical(str(v.get("physicalPath")))) for v in app.collection()]
        vdirs.sort(key=lambda v: len(v.path.rstrip("/")), reverse=True)
        apps.append(AppSpec(str(app.get("path")), str(app.get("applicationPool")), tuple(vdirs)))
    apps.sort(key=lambda a: len(a.path.rstrip("/")), reverse=True)
    log = site.child("logFile")
    limits = site.child("limits")
    return SiteSpec(
        id=int(site.get("id")),
        name=str(site.get("name")),
        auto_start=bool(site.get("serverAutoStart")),
        bindings=tuple(bindings),
        apps=tuple(apps),
        log=LogSpec(
            enabled=bool(log.get("enabled")),
            log_format=str(log.get("logFormat")),
            directory=str(log.get("directory") or DEFAULT_LOG_DIR),
            period=str(log.get("period")),
            fields=flag_names(log.get("logExtFileFlags")),
            local_time_rollover=bool(log.get("localTimeRollover")),
            truncate_size=int(log.get("truncateSize")),
        ),
        max_bandwidth=int(limits.get("maxBandwidth")),
        max_connections=int(limits.get("maxConnections")),
        connection_timeout=seconds(limits.get("connectionTimeout")),
    )


def _has(element: ElementLike, name: str) -> bool:
    try:
        element.get(name)
    except (KeyError, AttributeError, ValueError):
        return False
    return True


def _pool(pool: ElementLike) -> PoolSpec:
    return PoolSpec(
        name=str(pool.get("name")),
        auto_start=bool(pool.get("autoStart")),
        always_running=str(pool.get("startMode")).lower() == "alwaysrunning",
        max_processes=max(1, int(attr(pool, "processModel/maxProcesses"))),
        idle_timeout=seconds(attr(pool, "processModel/idleTimeout")),
        shutdown_time_limit=seconds(attr(pool, "processModel/shutdownTimeLimit")),
        startup_time_limit=seconds(attr(pool, "processModel/startupTimeLimit")),
        recycle_time=seconds(attr(pool, "recycling/periodicRestart/time")),
        recycle_requests=int(attr(pool, "recycling/periodicRestart/requests")),
        recycle_private_memory_kb=int(attr(pool, "recycling/periodicRestart/privateMemory")),
        disallow_rotation_on_config_change=bool(attr(pool, "recycling/disallowRotationOnConfigChange")),
        rapid_fail=bool(attr(pool, "failure/rapidFailProtection")),
        rapid_fail_interval=seconds(attr(pool, "failure/rapidFailProtectionInterval")),
        rapid_fail_max_crashes=int(attr(pool, "failure/rapidFailProtectionMaxCrashes")),
    )


def read_server(store: Any, address: str) -> ServerSpec:
    """Read every site and pool from the store's current generation."""
    sites: dict[str, SiteSpec] = {}
    for site in store.section(SITES).collection():
        spec = _site(site, address)
        sites.setdefault(spec.name.lower(), spec)
    pools: dict[str, PoolSpec] = {}
    for pool in store.section(POOLS).collection():
        pool_spec = _pool(pool)
        pools.setdefault(pool_spec.name.lower(), pool_spec)
    return ServerSpec(sites, pools)


def log_directory(spec: LogSpec, state_dir: Path) -> Path:
    """Where a site's log files go: the configured directory, or state_dir/logs when it is a Windows path."""
    text = host_directory(spec.directory)
    return state_dir / "logs" / "LogFiles" if text is None else Path(text)
