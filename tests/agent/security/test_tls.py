"""The agent's own TLS certificate."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from agent.security.tls import certificate_path, key_path, server_ssl_context
from tests.agent.security.conftest import make_settings


def test_self_signed_created_once(tmp_path: Path) -> None:
    settings = make_settings()
    context = server_ssl_context(tmp_path, settings, ["agent1.example", "127.0.0.2", "*"])
    assert isinstance(context, ssl.SSLContext)
    cert_file = certificate_path(tmp_path)
    first = cert_file.read_bytes()
    assert key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(first)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips and ipaddress.ip_address("127.0.0.2") in ips
    assert {"localhost", "agent1.example"} <= set(san.get_values_for_type(x509.DNSName))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 729
    server_ssl_context(tmp_path, settings, ["other"])
    assert cert_file.read_bytes() == first


def test_configured_files_are_used(tmp_path: Path) -> None:
    server_ssl_context(tmp_path / "a", make_settings(), [])
    settings = make_settings(
        iisfleet={
            "tls": {"cert_file": str(certificate_path(tmp_path / "a")), "key_file": str(key_path(tmp_path / "a"))}
        }
    )
    server_ssl_context(tmp_path / "b", settings, [])
    assert not certificate_path(tmp_path / "b").exists()
