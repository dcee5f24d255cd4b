"""X-IISFleet-Operator: recorded from the controller's identity only, refused (400) from anybody else."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.security import scopes
from agent.security.attribution import OPERATOR_HEADER, REQUIRE_CONTROLLER_CERTIFICATE
from agent.security.keys import KEY_STORE
from controller.pki import CertificateAuthority
from tests.agent.security.conftest import Client, bearer, build_test_app, make_settings, store_of
from tests.agent.security.test_audit import audit_text

OPERATOR = {"id": "k7Qz-operator_1", "purpose": "deploy bot", "role": "operator"}
CANONICAL = '{"id":"k7Qz-operator_1","purpose":"deploy bot","role":"operator"}'


def operator_header(value: Any = None) -> dict[str, str]:
    """The header as the controller sends it (compact JSON), or a raw value."""
    if value is None:
        value = json.dumps(OPERATOR, separators=(",", ":"))
    return {OPERATOR_HEADER: value}


def controller_token(client: Client) -> str:
    """A key like the one enrollment hands the controller."""
    return store_of(client).create("iisfleet controller https://c:8443", None, scope=scopes.CONTROLLER)[1]


async def test_recorded_from_the_controller(client: Client, state_dir: Path) -> None:
    token = controller_token(client)
    key = store_of(client).verify(token)
    assert key is not None
    headers = {**bearer(token), **operator_header()}
    response = await client.post("/api/things", json={"a": 1}, headers=headers)
    assert response.status == 201
    assert f"API Key ID: {key.id}\nOperator: {CANONICAL}\nMethod: POST\nPath: /api/things\n" in audit_text(state_dir)


@pytest.mark.parametrize("scope", [scopes.SYSTEM, scopes.API_ONLY])
async def test_refused_from_a_local_key(client: Client, state_dir: Path, scope: str) -> None:
    _, token = store_of(client).create("local", None, scope=scope)
    response = await client.post("/api/things", json={"a": 1}, headers={**bearer(token), **operator_header()})
    assert response.status == 400
    body = await response.json(content_type=None)
    assert body["title"] == "Invalid parameter" and body["name"] == OPERATOR_HEADER and body["status"] == 400
    assert "enrolled controller" in body["detail"]
    assert "Operator" not in audit_text(state_dir) and "/api/things" not in audit_text(state_dir)
    # Without the header the same key works and is audited without an operator.
    assert (await client.post("/api/things", json={"a": 1}, headers=bearer(token))).status == 201
    assert "Operator:" not in audit_text(state_dir)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"id":"a","purpose":"p"}',
        '{"id":"a","purpose":"p","role":"r","extra":"x"}',
        '{"id":1,"purpose":"p","role":"r"}',
        '{"id":"a b","purpose":"p","role":"r"}',
        '{"id":"a","purpose":"p\\nAPI Key ID: forged","role":"r"}',
        '{"id":"a","purpose":"' + "x" * 300 + '","role":"r"}',
        '{"id":"a","purpose":"p","role":""}',
    ],
)
async def test_malformed_is_400(client: Client, state_dir: Path, value: str) -> None:
    headers = {**bearer(controller_token(client)), **operator_header(value)}
    response = await client.post("/api/things", json={"a": 1}, headers=headers)
    assert response.status == 400
    body = await response.json(content_type=None)
    assert body == {"title": "Invalid parameter", "name": OPERATOR_HEADER, "detail": body["detail"], "status": 400}
    assert audit_text(state_dir) == ""


async def test_twice_is_400(client: Client) -> None:
    headers = [
        ("Access-Token", f"Bearer {controller_token(client)}"),
        (OPERATOR_HEADER, CANONICAL),
        (OPERATOR_HEADER, CANONICAL),
    ]
    assert (await client.post("/api/things", json={}, headers=headers)).status == 400


async def test_non_ascii_purpose_is_escaped(client: Client, state_dir: Path) -> None:
    value = json.dumps({"id": "a", "purpose": "déploiement", "role": "admin"}, separators=(",", ":"))
    response = await client.post(
        "/api/things", json={}, headers={**bearer(controller_token(client)), **operator_header(value)}
    )
    assert response.status == 201
    assert 'Operator: {"id":"a","purpose":"d\\u00e9ploiement","role":"admin"}' in audit_text(state_dir)


# -- over TLS, as an enrolled agent runs ---------------------------------------------------------------------


def _issue(ca: CertificateAuthority, directory: Path, common_name: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.sign(key.public_key(), common_name, ["127.0.0.1", "localhost"], timedelta(days=1))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = directory / f"{common_name}.pem"
    path.write_bytes(issued.pem.encode() + pem)
    return path


class TlsAgent:
    """The security test app served over real TLS, accepting (not requiring) fleet client certificates."""

    def __init__(self, base: str, ca: CertificateAuthority, app: web.Application, tmp: Path) -> None:
        self.base, self.ca, self.app, self.tmp = base, ca, app, tmp

    async def post(self, common_name: str | None, headers: dict[str, str]) -> int:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca.cert_file))
        if common_name is not None:
            context.load_cert_chain(_issue(self.ca, self.tmp, common_name))
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.base}/api/things", json={"a": 1}, headers=headers, ssl=context) as response,
        ):
            return response.status


@pytest.fixture
async def tls_agent(tmp_path: Path, state_dir: Path) -> AsyncIterator[TlsAgent]:
    ca = CertificateAuthority(tmp_path / "ca")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.cert_file))
    server.load_cert_chain(_issue(ca, tmp_path, "agent-web1"))
    server.verify_mode = ssl.CERT_OPTIONAL
    app = build_test_app(state_dir, make_settings())
    app[REQUIRE_CONTROLLER_CERTIFICATE] = True
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield TlsAgent(f"https://127.0.0.1:{port}", ca, app, tmp_path)
    finally:
        await runner.cleanup()


async def test_tls_controller_certificate_and_key(tls_agent: TlsAgent, state_dir: Path) -> None:
    token = tls_agent.app[KEY_STORE].create("iisfleet controller x", None, scope=scopes.CONTROLLER)[1]
    headers = {**bearer(token), **operator_header()}
    assert await tls_agent.post("iisfleet-controller", headers) == 201
    assert f"Operator: {CANONICAL}" in audit_text(state_dir)


@pytest.mark.parametrize("common_name", [None, "web2"])
async def test_tls_controller_key_without_its_certificate(
    tls_agent: TlsAgent, state_dir: Path, common_name: str | None
) -> None:
    """The controller's key alone (say, copied off the controller) cannot name an operator on an enrolled agent."""
    token = tls_agent.app[KEY_STORE].create("iisfleet controller x", None, scope=scopes.CONTROLLER)[1]
    assert await tls_agent.post(common_name, {**bearer(token), **operator_header()}) == 400
    assert "Operator" not in audit_text(state_dir)


async def test_tls_controller_certificate_with_a_local_key(tls_agent: TlsAgent, state_dir: Path) -> None:
    token = tls_agent.app[KEY_STORE].create("local", None)[1]
    assert await tls_agent.post("iisfleet-controller", {**bearer(token), **operator_header()}) == 400
    assert audit_text(state_dir) == ""
