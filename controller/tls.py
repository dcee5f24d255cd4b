"""The controller's TLS contexts: HTTPS server (optional client certificates) and mTLS client towards agents."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from controller.pki import CertificateAuthority
from controller.settings import ControllerSettings
from controller.state_lock import state_lock

RENEW_BEFORE = timedelta(days=30)


def controller_cert_files(settings: ControllerSettings) -> tuple[Path, Path]:
    """The controller's certificate and key files."""
    return settings.pki_dir / "controller.crt", settings.pki_dir / "controller.key"


def ensure_controller_certificate(settings: ControllerSettings, ca: CertificateAuthority) -> tuple[Path, Path]:
    """Issue the controller's certificate when missing or near its end."""
    cert_file, key_file = controller_cert_files(settings)
    with state_lock(settings.pki_dir):  # one issuer at a time among processes sharing the directory
        if cert_file.exists() and key_file.exists():
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            if cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE:
                return cert_file, key_file
        hosts = [*settings.tls_names, settings.address]
        ca.issue_controller_certificate(cert_file, key_file, hosts)
    return cert_file, key_file


def server_context(settings: ControllerSettings, ca: CertificateAuthority) -> ssl.SSLContext:
    """HTTPS server: agents present CA-signed client certificates; operators may present none."""
    cert_file, key_file = ensure_controller_certificate(settings, ca)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.cert_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    # CERT_OPTIONAL still rejects a certificate that does not chain to the CA; it only allows none at all.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def agent_client_context(settings: ControllerSettings, ca: CertificateAuthority) -> ssl.SSLContext:
    """Client towards agents: verify them (chain and hostname) against the CA, present our certificate."""
    cert_file, key_file = ensure_controller_certificate(settings, ca)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca.cert_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def controller_names(settings: ControllerSettings) -> frozenset[str]:
    """The DNS names and IP addresses (lower case) the controller's certificate is valid for; no agent gets them."""
    cert_file, _ = controller_cert_files(settings)
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return frozenset()
    dns = sans.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    return frozenset(name.lower().rstrip(".") for name in [*dns, *ips])
