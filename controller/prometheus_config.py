"""The Prometheus configuration `scrape-credentials create` writes: the controller plus every agent via http_sd.

deploy/prometheus.yml is this same configuration for docker-compose's paths (tests/deploy checks both
with promtool). It is YAML written by hand from a template: JSON strings are valid YAML scalars, so
paths and addresses are quoted with json.dumps and need no YAML library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CA_FILE = "ca.crt"
CERT_FILE = "scrape.crt"
KEY_FILE = "scrape.key"
CONFIG_FILE = "prometheus.yml"
DEFAULT_CONTROLLER = "controller:55540"

_TEMPLATE = """\
# Prometheus for an IIS Fleet, written by `iisfleet controller scrape-credentials create`.
# It scrapes the controller's fleet aggregates and, found through the controller's HTTP service discovery,
# every agent's /metrics. Prometheus presents the scrape certificate (metrics role, fleet CA) everywhere:
# agents serve it /metrics and nothing else. Add your rule_files (deploy/alerts.yml) as you need them.
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}

scrape_configs:
  - job_name: iisfleet-controller
    scheme: https
    tls_config:
      ca_file: {ca}
      cert_file: {cert}
      key_file: {key}
    static_configs:
      - targets: [{controller}]

  - job_name: iisfleet-agents
    # Targets and their labels (agent, agent_id and the fleet labels such as env/role) come from the registry.
    http_sd_configs:
      - url: {sd_url}
        refresh_interval: {sd_refresh}
        tls_config:
          ca_file: {ca}
          cert_file: {cert}
          key_file: {key}
    scheme: https
    metrics_path: /metrics
    # Agents serve certificates issued by the fleet CA for their own address: verified, never skipped.
    tls_config:
      ca_file: {ca}
      cert_file: {cert}
      key_file: {key}
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusConfig:
    """Where the credential files are (as Prometheus sees them) and where the controller answers."""

    directory: str
    controller: str = DEFAULT_CONTROLLER
    scrape_interval: str = "15s"
    sd_refresh: str = "30s"

    def render(self) -> str:
        """The prometheus.yml text."""
        base = self.directory.rstrip("/")
        return _TEMPLATE.format(
            interval=self.scrape_interval,
            sd_refresh=self.sd_refresh,
            ca=json.dumps(f"{base}/{CA_FILE}"),
            cert=json.dumps(f"{base}/{CERT_FILE}"),
            key=json.dumps(f"{base}/{KEY_FILE}"),
            controller=json.dumps(self.controller),
            sd_url=json.dumps(f"https://{self.controller}/api/prometheus/targets"),
        )


def check_address(address: str) -> str:
    """A HOST:PORT the controller answers on (brackets for IPv6); ValueError otherwise."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in " /\"'"):
        raise ValueError(f"the controller address {address!r} must be HOST:PORT")
    return address.strip()


def config_path(directory: Path) -> Path:
    """DIR/prometheus.yml."""
    return directory / CONFIG_FILE
