"""X.509 building blocks shared by the agent's self-signed certificates and the controller's CA."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Certificates start a little in the past so a peer whose clock lags still accepts them.
BACKDATE = timedelta(minutes=5)
WILDCARD_ADDRESSES = ("*", "0.0.0.0", "::")


def general_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses and DNS names for a subjectAltName, without duplicates or wildcard listen addresses."""
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in hosts:
        host = raw.strip().strip("[]")
        if not host or host in WILDCARD_ADDRESSES or host.lower() in seen:
            continue  # a wildcard listen address is not a name a client connects to
        seen.add(host.lower())
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def leaf_key_usage() -> x509.KeyUsage:
    """Key usage of an EC leaf certificate: signatures and key agreement only."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed_server(hosts: Iterable[str], validity: timedelta) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 key PEM) of an EC P-256 self-signed serverAuth certificate for `hosts`."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = general_names(hosts)
    common_name = next((n.value for n in names if isinstance(n, x509.DNSName)), "localhost")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(common_name))])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(leaf_key_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
