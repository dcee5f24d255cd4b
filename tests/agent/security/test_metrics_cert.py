"""Prometheus's scrape certificate on a real agent over TLS: /metrics only, other CAs refused, revocation."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.api.routes import ROUTES
from agent.controller_link import server_context
from agent.enrollment import Enrollment
from agent.security.metrics_cert import REVOKED_FILE, SCRAPE_REVOCATIONS, RevokedSerials
from controller.pki import CertificateAuthority
from shared.cert_roles import METRICS_ROLE
from tests.controller.conftest import free_port

_PARAM = re.compile(r"\{[^}]*\}")


@dataclass
class ServedAgent:
    """An agent app behind the TLS server context an enrolled agent uses."""

    url: str
    app: web.Application
    ca: CertificateAuthority
    tmp: Path

    def client(self, cert: tuple[Path, Path] | None = None, ca: CertificateAuthority | None = None) -> ssl.SSLContext:
        """Trust the fleet CA; present `cert` (certificate file, key file) when given."""
        context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if cert is not None:
            context.load_cert_chain(*cert)
        return context

    def role_cert(self, ca: CertificateAuthority, name: str, role: str = METRICS_ROLE) -> tuple[Path, Path, str]:
        """A role certificate of `ca` written to files: (cert, key, serial)."""
        issued, key_pem = ca.issue_role_certificate(role, name, timedelta(days=1))
        cert_file, key_file = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        cert_file.write_text(issued.pem)
        key_file.write_bytes(key_pem)
        return cert_file, key_file, issued.serial

    def agent_cert(self, name: str) -> tuple[Path, Path]:
        """An ordinary agent certificate (serverAuth + clientAuth, no role) of the fleet CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        issued = self.ca.sign(key.public_key(), name, ["127.0.0.9"], timedelta(days=1))
        cert_file, key_file = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        cert_file.write_text(issued.pem)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


@pytest.fixture
async def served(tmp_path: Path, state_dir: Path, agent_app: web.Application) -> AsyncIterator[ServedAgent]:
    """The agent enrolled the way agents were before scrape credentials existed: CA file + identity only."""
    ca = CertificateAuthority(tmp_path / "pki")
    directory = state_dir / "controller"
    directory.mkdir()
    (directory / "ca.crt").write_bytes(ca.cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.sign(key.public_key(), "agent1", ["127.0.0.1"], timedelta(days=1))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "identity.pem").write_bytes(issued.pem.encode() + key_pem)
    enrollment = Enrollment("a1", "agent1", "https://127.0.0.1:1", "https://127.0.0.1:2", 1.0, str(directory))
    runner = web.AppRunner(agent_app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context(enrollment)).start()
    try:
        yield ServedAgent(f"https://127.0.0.1:{port}", agent_app, ca, tmp_path)
    finally:
        await runner.cleanup()


async def _status(agent: ServedAgent, method: str, path: str, context: ssl.SSLContext, token: str = "") -> int:
    headers = {"Access-Token": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, agent.url + path, ssl=context, headers=headers, data=b"{}") as response,
    ):
        await response.read()
        return response.status


def _route_cases() -> list[tuple[str, str]]:
    """Every (method, concrete path) of the agent's routing table, HEAD for each GET, and public extras."""
    cases: list[tuple[str, str]] = []
    for route in ROUTES:
        path = _PARAM.sub("x", route.path)
        cases.append((route.method, path))
        if route.method == "GET":
            cases.append(("HEAD", path))
    return [*cases, ("POST", "/metrics"), ("DELETE", "/metrics"), ("GET", "/nowhere"), ("GET", "/metrics/")]


async def test_scrape_certificate_reaches_metrics_and_nothing_else(served: ServedAgent, token: str) -> None:
    cert, key, _serial = served.role_cert(served.ca, "prometheus")
    scraper = served.client((cert, key))
    assert await _status(served, "GET", "/metrics", scraper) == 200
    assert await _status(served, "HEAD", "/metrics", scraper) == 200
    cases = _route_cases()
    assert len(cases) > 100  # the whole table, not a sample
    allowed = {("GET", "/metrics"), ("HEAD", "/metrics")}
    answers = {case: await _status(served, *case, scraper) for case in cases if case not in allowed}
    assert {case: status for case, status in answers.items() if status != 403} == {}
    # Gateway-relevant routes stay closed even when the same connection also carries a valid token.
    for path in ("/api/webserver/websites", "/api/webserver/application-pools", "/security/api-keys"):
        assert await _status(served, "GET", path, scraper, token) == 403


async def test_scrape_certificate_from_another_ca_is_refused(served: ServedAgent) -> None:
    other = CertificateAuthority(served.tmp / "other-pki")
    cert, key, _serial = served.role_cert(other, "intruder")
    with pytest.raises(aiohttp.ClientError):
        await _status(served, "GET", "/metrics", served.client((cert, key)))


async def test_certificates_without_the_role_grant_nothing(served: ServedAgent, token: str) -> None:
    # An agent's own certificate and another role are not scrape credentials: the token rules apply as before.
    for cert, key in (served.agent_cert("agent2"), served.role_cert(served.ca, "other-role", role="admin")[:2]):
        context = served.client((cert, key))
        assert await _status(served, "GET", "/metrics", context) == 403
        assert await _status(served, "GET", "/metrics", context, token) == 200
    assert await _status(served, "GET", "/metrics", served.client()) == 403
    assert await _status(served, "GET", "/metrics", served.client(), token) == 200


async def test_revoked_scrape_certificate_is_refused_and_stays_refused(served: ServedAgent, state_dir: Path) -> None:
    cert, key, serial = served.role_cert(served.ca, "prometheus")
    scraper = served.client((cert, key))
    assert await _status(served, "GET", "/metrics", scraper) == 200
    served.app[SCRAPE_REVOCATIONS].replace([serial.upper(), "abc"])
    assert await _status(served, "GET", "/metrics", scraper) == 403
    assert serial in RevokedSerials(state_dir / REVOKED_FILE)  # a restarted agent still refuses it
    served.app[SCRAPE_REVOCATIONS].replace([])
    assert await _status(served, "GET", "/metrics", scraper) == 200
