"""A real Prometheus (the Debian package) scrapes a real controller and three real agents on 127.0.0.2-4.

Prometheus runs deploy/prometheus.yml with only the addresses, file paths and intervals substituted, and the
scrape credential `iisfleet controller scrape-credentials create` wrote: every target must come up, the
agents' series carry the fleet labels, every dashboard and alert expression returns data, and traffic to a
site shows in rate(windows_iis_requests_total[1m]).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.deploy.prometheus_files import alert_rules, dashboard_expressions, deploy_config, without_threshold
from tests.e2e.test_controller_fleet import ADDRESSES, Fleet, _free_port, wait_for

pytestmark = pytest.mark.e2e

ROLES = {"agent1": "web", "agent2": "web", "agent3": "api"}


class Prometheus:
    """A Prometheus process on 127.0.0.1 with its own storage, stopped by pid."""

    def __init__(self, tmp: Path, config: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is missing: install the Debian package prometheus (.ci/run does)")
        (tmp / "prometheus.yml").write_text(config)
        self.url = f"http://127.0.0.1:{_free_port('127.0.0.1')}"
        self.log = tmp / "prometheus.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}"],
                stdout=log, stderr=log,
            )  # fmt: skip

    def get(self, path: str, **params: str) -> Any:
        """GET an API path; the `data` member of a successful answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (the API answers 400 to an expression that does not parse)."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _start_agents(fleet: Fleet) -> dict[str, dict[str, Any]]:
    for index, address in enumerate(ADDRESSES, start=1):
        name = f"agent{index}"
        join = fleet.cli("controller", "join-token", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                         "--labels", f"env=e2e,role={ROLES[name]}", "--ttl", "10m")  # fmt: skip
        fleet.start(name, "agent", "run", "--state-dir", str(fleet.tmp / name), "--address", address,
                    "--port", str(_free_port(address)), "--controller", fleet.url, "--join-token", join,
                    "--name", name)  # fmt: skip

    def all_online() -> dict[str, dict[str, Any]] | None:
        agents = fleet.agents()
        return agents if len(agents) == 3 and all(a["status"] == "online" for a in agents.values()) else None

    return dict(wait_for("three agents online", all_online, timeout=90))


def _iis(fleet: Fleet, agent: dict[str, Any], method: str, path: str, body: Any, status: int) -> Any:
    got, answer = fleet.call(method, f"/api/agents/{agent['id']}/iis/api/webserver/{path}", body=body)
    assert got == status, (method, path, got, answer)
    return answer


def test_prometheus_scrapes_the_fleet_out_of_the_box(fleet: Fleet) -> None:
    fleet.start_controller()
    fleet.token = fleet.cli("controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                            "--purpose", "e2e", "--role", "admin")  # fmt: skip
    agents = _start_agents(fleet)

    # A site with traffic on agent1, and a stopped pool on agent3 (for the "not running" panels and rules).
    content = fleet.tmp / "agent1" / "inetpub" / "sites" / "shop"
    content.mkdir(parents=True)
    (content / "index.html").write_text("shop")
    site_port = _free_port(ADDRESSES[0])
    _iis(fleet, agents["agent1"], "POST", "websites", {
        "name": "shop", "physical_path": str(content),
        "bindings": [{"protocol": "http", "ip_address": "*", "port": site_port, "hostname": ""}]}, 201)  # fmt: skip
    parked = _iis(fleet, agents["agent3"], "POST", "application-pools", {"name": "Parked"}, 201)
    stop = f"/api/agents/{agents['agent3']['id']}/iis/api/webserver/application-pools/{parked['id']}"
    # The host picks the new pool up from the configuration a moment after it is written.
    wait_for("Parked stopped", lambda: fleet.call("PATCH", stop, body={"status": "stopped"})[0] == 200, timeout=30)

    credentials = fleet.tmp / "scrape"
    fleet.cli("controller", "scrape-credentials", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
              "--out", str(credentials), "--controller-address", f"127.0.0.1:{fleet.port}")  # fmt: skip
    prometheus = Prometheus(fleet.tmp, deploy_config(credentials, f"127.0.0.1:{fleet.port}", interval="1s"))
    try:
        _check(prometheus, fleet, site_port)
    except BaseException:
        print(prometheus.log.read_text()[-4000:])
        raise
    finally:
        prometheus.stop()

    # Revoked like an agent: the controller refuses the certificate at once, agents from their next heartbeat.
    serial = format(x509.load_pem_x509_certificate((credentials / "scrape.crt").read_bytes()).serial_number, "x")
    assert _scrape(credentials, f"{fleet.url}/metrics") == 200
    state = ["--state-dir", str(fleet.state), *fleet.redis_args()]
    fleet.cli("controller", "scrape-credentials", "revoke", *state, serial)
    # No valid credential is left: the controller answers as it does to a bad token.
    assert _scrape(credentials, f"{fleet.url}/metrics") == 401
    for agent in agents.values():
        wait_for(f"{agent['name']} to refuse the revoked certificate",
                 lambda url=agent["url"]: _scrape(credentials, f"{url}/metrics") == 403, timeout=30)  # fmt: skip


def _scrape(credentials: Path, url: str) -> int:
    """The status Prometheus would get with the scrape credential."""
    context = ssl.create_default_context(cafile=str(credentials / "ca.crt"))
    context.load_cert_chain(credentials / "scrape.crt", credentials / "scrape.key")
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _check(prometheus: Prometheus, fleet: Fleet, site_port: int) -> None:
    def targets_up() -> list[dict[str, Any]] | None:
        active = prometheus.get("/api/v1/targets", state="active")["activeTargets"]
        return active if len(active) == 4 and all(t["health"] == "up" for t in active) else None

    targets = wait_for("4 targets up", targets_up, timeout=90, interval=0.5)
    assert {t["labels"]["job"] for t in targets} == {"iisfleet-controller", "iisfleet-agents"}

    # The agents' windows_iis_* series carry the fleet labels from the registry.
    def labelled() -> list[dict[str, Any]] | None:
        found = prometheus.query('windows_iis_current_worker_processes{app="DefaultAppPool"}')
        return found if len(found) == 3 else None

    series = wait_for("worker series of 3 agents", labelled, timeout=30)
    assert {(s["metric"]["agent"], s["metric"]["env"], s["metric"]["role"]) for s in series} == {
        (name, "e2e", role) for name, role in ROLES.items()}  # fmt: skip

    # Traffic to the site shows as a per-method request rate.
    def site_rate() -> float:
        for _ in range(5):
            with urllib.request.urlopen(f"http://{ADDRESSES[0]}:{site_port}/", timeout=5) as response:
                assert response.read() == b"shop"
        found = prometheus.query('rate(windows_iis_requests_total{site="shop", method="GET"}[1m])')
        return float(found[0]["value"][1]) if found else 0.0

    assert wait_for("a request rate for the site", site_rate, timeout=60, interval=1.0) > 0

    # Every dashboard and alert expression parses and returns data. An alert's whole expression only has data
    # while it fires, so the data check takes it without its threshold; the whole one must parse.
    for _name, expr in alert_rules():
        prometheus.query(expr)  # the query API answers 400 to an expression that does not parse
    expressions = [expr for _title, expr in dashboard_expressions()]
    expressions += [without_threshold(expr) for _name, expr in alert_rules()]
    assert len(expressions) >= 20
    deadline = time.monotonic() + 60
    while empty := [expr for expr in expressions if not prometheus.query(expr)]:
        assert time.monotonic() < deadline, f"expressions without data: {empty}"
        time.sleep(1.0)

    # The alert that fired on every fresh install before scrape credentials existed stays quiet.
    rules = {r["name"]: r for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]}
    assert rules["IisFleetAgentScrapeFailing"]["health"] == "ok"
    assert rules["IisFleetAgentScrapeFailing"]["state"] == "inactive"
    active = {a["labels"]["alertname"] for a in prometheus.get("/api/v1/alerts")["alerts"]}
    assert "IisFleetAgentScrapeFailing" not in active and "IisFleetControllerDown" not in active
