"""The agent's HTTPS certificate: the configured one, or a self-signed one made on first run."""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.security.dates import utcnow
from agent.settings import AgentSettings, expand_path
from shared.fsutil import atomic_write_bytes

VALIDITY = timedelta(days=730)


def certificate_path(state_dir: Path) -> Path:
    """The self-signed certificate clients may pin or trust."""
    return state_dir / "certs" / "agent.crt"


def key_path(state_dir: Path) -> Path:
    """The private key of the self-signed certificate (mode 0600)."""
    return state_dir / "certs" / "agent.key"


def _names(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in [*hostnames, "localhost", "127.0.0.1"]:
        name = raw.strip().strip("[]")
        if not name or name in ("*", "0.0.0.0", "::") or name.lower() in seen:
            continue  # wildcard listen addresses are not names a client connects to
        seen.add(name.lower())
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def create_self_signed(cert_file: Path, key_file: Path, hostnames: Iterable[str]) -> None:
    """Write an EC P-256 self-signed serverAuth certificate valid for two years."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = _names(hostnames)
    common_name = next((n.value for n in names if isinstance(n, x509.DNSName)), "localhost")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(common_name))])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    # Key first: a certificate without its key would be "reused" and fail to load.
    atomic_write_bytes(
        key_file,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        mode=0o600,
    )
    atomic_write_bytes(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def server_ssl_context(state_dir: Path, settings: AgentSettings, hostnames: list[str]) -> ssl.SSLContext:
    """The server TLS context: settings' cert/key files, or the state directory's self-signed pair."""
    tls = settings.iisfleet.tls
    if tls.cert_file and tls.key_file:
        cert_file, key_file = Path(expand_path(tls.cert_file)), Path(expand_path(tls.key_file))
    else:
        cert_file, key_file = certificate_path(state_dir), key_path(state_dir)
        if not (cert_file.exists() and key_file.exists()):
            create_self_signed(cert_file, key_file, hostnames)
        else:
            os.chmod(key_file, 0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
