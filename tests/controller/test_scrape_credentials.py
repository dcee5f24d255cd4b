"""Scrape credentials on a real controller and Redis: issue, what they reach, revocation sent to agents."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
from cryptography import x509

from agent.controller_link import ControllerLink
from agent.security.metrics_cert import RevokedSerials
from controller.prometheus_config import CA_FILE, CERT_FILE, CONFIG_FILE, KEY_FILE
from controller.scrape_cli import write_credential_dir
from controller.services import scrape_credentials
from shared.cert_roles import METRICS_ROLE, certificate_role
from tests.controller.conftest import ControllerUnderTest
from tests.controller.test_enrollment import _enroll, _summary

REPO = Path(__file__).resolve().parents[2]


async def _get(c: ControllerUnderTest, path: str, context: ssl.SSLContext, token: bool = False) -> int:
    headers = c.auth() if token else {}
    async with aiohttp.ClientSession() as http, http.get(c.url + path, ssl=context, headers=headers) as r:
        await r.read()
        return r.status


async def test_scrape_certificate_reaches_controller_metrics_and_sd_only(
    controller: ControllerUnderTest, tmp_path: Path
) -> None:
    credential = await scrape_credentials.create(controller.store, controller.ca, "prometheus", timedelta(days=1))
    out = tmp_path / "scrape"
    write_credential_dir(out, controller.ca.cert_pem, credential, "127.0.0.1:1")
    cert = x509.load_pem_x509_certificate((out / CERT_FILE).read_bytes())
    assert certificate_role(cert) == METRICS_ROLE
    assert stat.S_IMODE(os.stat(out / KEY_FILE).st_mode) == 0o600
    assert (out / CA_FILE).read_bytes() == controller.ca.cert_pem
    scraper = ssl.create_default_context(cafile=str(out / CA_FILE))
    scraper.load_cert_chain(out / CERT_FILE, out / KEY_FILE)
    assert await _get(controller, "/metrics", scraper) == 200
    assert await _get(controller, "/api/prometheus/targets", scraper) == 200
    # Without a token or a scrape certificate the caller has no credential at all: 401, as for a bad token.
    assert await _get(controller, "/metrics", controller.client_ssl()) == 401
    assert await _get(controller, "/metrics", controller.client_ssl(), token=True) == 200
    # Operator and agent routes: the certificate is no operator and no agent.
    assert await _get(controller, "/api/agents", scraper) == 401
    assert await _get(controller, "/openapi.json", scraper) == 401
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{controller.url}/api/agent/heartbeat", json={}, ssl=scraper) as r:
            assert r.status == 403

    await scrape_credentials.revoke(controller.store, credential.certificate.serial)
    assert await _get(controller, "/metrics", scraper) == 401
    assert await controller.store.scrapers() == {}


async def test_agents_learn_revoked_serials_from_heartbeats(controller: ControllerUnderTest, tmp_path: Path) -> None:
    enrollment = await _enroll(controller, tmp_path, "web1")
    revoked = RevokedSerials(tmp_path / "revoked.json")
    link = ControllerLink(enrollment, lambda: _summary(0), None, revoked)
    kept = await scrape_credentials.create(controller.store, controller.ca, "kept", timedelta(days=1))
    gone = await scrape_credentials.create(controller.store, controller.ca, "gone", timedelta(days=1))
    await scrape_credentials.revoke(controller.store, gone.certificate.serial)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        await link.heartbeat(session)
    assert gone.certificate.serial in revoked
    assert kept.certificate.serial not in revoked
    assert gone.certificate.serial in RevokedSerials(tmp_path / "revoked.json")
    assert list(await controller.store.scrapers()) == [kept.certificate.serial]


def test_cli_writes_a_prometheus_config_that_promtool_accepts(tmp_path: Path, redis_url: str, prefix: str) -> None:
    env = {**os.environ, "CONTROLLER_REDIS_PREFIX": prefix}
    state = ["--state-dir", str(tmp_path / "state"), "--redis-url", redis_url]

    def cli(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "iisfleet", "controller", "scrape-credentials", command, *state, *args]
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    out = tmp_path / "out"
    done = cli("create", "--out", str(out), "--controller-address", "fleet.example:8443")
    assert done.returncode == 0, done.stderr
    config = (out / CONFIG_FILE).read_text()
    assert '"fleet.example:8443"' in config and "https://fleet.example:8443/api/prometheus/targets" in config
    assert f'"{out}/{KEY_FILE}"' in config and "#   authorization" not in config
    check = subprocess.run(["promtool", "check", "config", str(out / CONFIG_FILE)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    serial = format(x509.load_pem_x509_certificate((out / CERT_FILE).read_bytes()).serial_number, "x")
    assert serial in cli("list").stdout
    revoked = cli("revoke", serial)
    assert revoked.returncode == 0 and f"{serial} revoked" in revoked.stdout, revoked.stderr
    again = cli("revoke", serial)
    assert again.returncode == 1 and "no valid scrape credential" in again.stderr
    bad = cli("create", "--out", str(out), "--controller-address", "no-port")
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
