"""The shipped Prometheus configuration, alert rules and compose wiring, checked with promtool."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

from controller.pki import CertificateAuthority
from controller.prometheus_config import PrometheusConfig
from controller.scrape_cli import write_credential_dir
from controller.services.scrape_credentials import ScrapeCredential
from shared.cert_roles import METRICS_ROLE
from tests.deploy.prometheus_files import (
    COMPOSE_CONTROLLER,
    COMPOSE_CREDENTIALS,
    DEPLOY,
    REPO,
    alert_rules,
    dashboard_expressions,
    deploy_config,
    promtool,
)


def _credentials(tmp: Path) -> Path:
    ca = CertificateAuthority(tmp / "pki")
    issued, key_pem = ca.issue_role_certificate(METRICS_ROLE, "prometheus", timedelta(days=1))
    out = tmp / "scrape"
    write_credential_dir(out, ca.cert_pem, ScrapeCredential(issued, key_pem), "127.0.0.1:1")
    return out


def test_alert_rules_pass_their_unit_tests() -> None:
    done = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=DEPLOY, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    tests = (DEPLOY / "alerts_test.yml").read_text()
    quiet = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts: \[\]", tests))
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    names = {name for name, _expr in alert_rules()}
    assert len(names) == 7
    assert names == quiet == firing


def test_rules_and_deploy_config_pass_promtool_check(tmp_path: Path) -> None:
    rules = subprocess.run([promtool(), "check", "rules", str(DEPLOY / "alerts.yml")], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = tmp_path / "prometheus.yml"
    config.write_text(deploy_config(_credentials(tmp_path), "127.0.0.1:55540"))
    done = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout


def test_deploy_config_is_the_generated_one_plus_rules() -> None:
    shipped = (DEPLOY / "prometheus.yml").read_text()
    generated = PrometheusConfig(directory=COMPOSE_CREDENTIALS, controller=COMPOSE_CONTROLLER).render()
    assert shipped[shipped.index("scrape_configs:") :] == generated[generated.index("scrape_configs:") :]
    # Nothing is left commented out for the user to finish.
    keys = ("authorization", "credentials_file", "bearer_token", "tls_config", "cert_file", "key_file", "type")
    assert not [line for line in shipped.splitlines() if re.match(rf"^\s*#\s*({'|'.join(keys)}):", line)]


def test_compose_creates_the_credential_where_prometheus_reads_it() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    assert f"scrape-credentials create --state-dir /state --out {COMPOSE_CREDENTIALS}" in compose
    assert f"- scrape-credential:{COMPOSE_CREDENTIALS}:ro" in compose  # Prometheus's only secret mount
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose
    assert "controller-state:/controller" not in compose  # the CA key stays out of Prometheus's container


def test_dashboard_filters_agent_panels_by_fleet_labels() -> None:
    expressions = dashboard_expressions()
    agent_side = [expr for _title, expr in expressions if "windows_iis_" in expr]
    assert len(agent_side) >= 5
    assert all('env=~".*"' in expr and 'role=~".*"' in expr for expr in agent_side)
    for family in (
        "windows_iis_current_worker_processes",
        "windows_iis_app_pool_requests_total",
        "windows_iis_total_worker_process_failures",
        "windows_iis_total_application_pool_recycles",
    ):
        assert any(family in expr for expr in agent_side), family
