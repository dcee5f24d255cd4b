"""deploy/prometheus.yml with only addresses, file paths (and, for tests, intervals) substituted."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_CREDENTIALS = "/secrets/scrape"
COMPOSE_CONTROLLER = "controller:55540"
COMPOSE_RULES = "/etc/prometheus/alerts.yml"
# Grafana's variables and macros, as the dashboard's defaults resolve them ("All" is .* for env and role).
GRAFANA_MACROS = {"$env": ".*", "$role": ".*", "$__rate_interval": "1m"}


def promtool() -> str:
    """The promtool executable (the Debian package prometheus; .ci/run installs it)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install the Debian package prometheus (.ci/run does)")
    return found


def deploy_config(credentials: Path, controller: str, *, interval: str | None = None) -> str:
    """deploy/prometheus.yml for credential files in `credentials` and a controller at `controller`."""
    text = (DEPLOY / "prometheus.yml").read_text()
    text = text.replace(COMPOSE_CREDENTIALS, str(credentials)).replace(COMPOSE_CONTROLLER, controller)
    text = text.replace(COMPOSE_RULES, str(DEPLOY / "alerts.yml"))
    if interval is not None:
        text = re.sub(r"(scrape_interval|evaluation_interval|refresh_interval): \d+s", rf"\1: {interval}", text)
    return text


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables resolved) of every dashboard target."""
    found: list[tuple[str, str]] = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for macro, value in GRAFANA_MACROS.items():
                    expr = expr.replace(macro, value)
                found.append((panel["title"], expr))
    return found


def alert_rules() -> list[tuple[str, str]]:
    """(alert name, expression) of every rule in deploy/alerts.yml (a flat, regular file)."""
    text = (DEPLOY / "alerts.yml").read_text()
    return re.findall(r"- alert: (\w+)\n(?:\s+#.*\n)*\s+expr: (.+)\n", text)


def without_threshold(expr: str) -> str:
    """An alert expression without its final comparison: the part that has data while nothing is wrong."""
    match = re.match(r"^(.*\S)\s*(?:==|!=|>=|<=|>|<)\s*[-+0-9.e]+$", expr)
    return match.group(1) if match else expr
