"""One stored certificate, parsed once into the facts the API shows (names as Windows formats them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # parsing imports cryptography on first use: ~7 MiB resident an idle agent does without
    from cryptography import x509

# OIDs as dotted strings, so that importing this module does not load cryptography.
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
ALIAS_PREFIX = "Friendly Name: "
KEY_BLOCK = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)
# Windows' friendly names of the usual EKU OIDs (what certmgr and upstream's `intended_purposes` show).
EKU_NAMES = {
    SERVER_AUTH: "Server Authentication",
    "1.3.6.1.5.5.7.3.2": "Client Authentication",
    "1.3.6.1.5.5.7.3.3": "Code Signing",
    "1.3.6.1.5.5.7.3.4": "Secure Email",
    "1.3.6.1.5.5.7.3.8": "Time Stamping",
    "1.3.6.1.5.5.7.3.9": "OCSP Signing",
}
SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.5": "sha1RSA",
    "1.2.840.113549.1.1.11": "sha256RSA",
    "1.2.840.113549.1.1.12": "sha384RSA",
    "1.2.840.113549.1.1.13": "sha512RSA",
    "1.2.840.10045.4.3.2": "sha256ECDSA",
    "1.2.840.10045.4.3.3": "sha384ECDSA",
    "1.2.840.10045.4.3.4": "sha512ECDSA",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.3.101.112": "Ed25519",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """What the API shows of one certificate file."""

    store: str
    path: Path
    alias: str
    thumbprint: str
    subject: str
    issued_by: str
    signature_algorithm: str
    valid_from: datetime
    valid_to: datetime
    version: str
    purposes: tuple[str, ...]
    """EKU OIDs, dotted; empty when the certificate has no EKU extension."""
    subject_alternative_names: tuple[str, ...]
    has_private_key: bool

    @property
    def intended_purposes(self) -> list[str]:
        """EKU friendly names (the OID text when Windows has no name for it)."""
        return [EKU_NAMES.get(oid, oid) for oid in self.purposes]

    def has_purpose(self, wanted: str) -> bool:
        """True when the EKU list holds `wanted` as an OID (exact) or a friendly name (any case)."""
        return wanted in self.purposes or wanted.lower() in (n.lower() for n in self.intended_purposes)


def distinguished_name(name: x509.Name) -> str:
    """"CN=x, O=y, C=z": most specific first, as Windows' X500DistinguishedName.Name."""
    return ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns))


def _san(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    out = [f"DNS Name={n}" for n in names.get_values_for_type(x509.DNSName)]
    out += [f"IP Address={n}" for n in names.get_values_for_type(x509.IPAddress)]
    out += [f"RFC822 Name={n}" for n in names.get_values_for_type(x509.RFC822Name)]
    out += [f"URL={n}" for n in names.get_values_for_type(x509.UniformResourceIdentifier)]
    return tuple(out)


def _purposes(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509

    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(oid.dotted_string for oid in usage)


def _alias(text: str) -> str:
    # The alias is PEM "explanatory text" before the first block; OpenSSL and cryptography skip it.
    for line in text.splitlines():
        if line.startswith("-----BEGIN"):
            break
        if line.startswith(ALIAS_PREFIX):
            return line[len(ALIAS_PREFIX) :].strip()
    return ""


def _has_key(data: bytes) -> bool:
    block = KEY_BLOCK.search(data)
    if block is None:
        return False
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(block[0], password=None)
    except (ValueError, TypeError):
        return False
    return True


def read_certificate(path: Path, store: str) -> CertificateInfo:
    """Parse a PEM file (leaf certificate first, optional key); ValueError when it holds no certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    data = path.read_bytes()
    cert = x509.load_pem_x509_certificates(data)[0]
    try:
        oid = cert.signature_algorithm_oid.dotted_string
        signature = SIGNATURE_NAMES.get(oid, oid)
    except ValueError:
        signature = ""
    return CertificateInfo(
        store=store,
        path=path,
        alias=_alias(data.decode("utf-8", "replace")),
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - the thumbprint *is* SHA-1
        subject=distinguished_name(cert.subject),
        issued_by=distinguished_name(cert.issuer),
        signature_algorithm=signature,
        valid_from=cert.not_valid_before_utc,
        valid_to=cert.not_valid_after_utc,
        version=str(cert.version.value + 1),
        purposes=_purposes(cert),
        subject_alternative_names=_san(cert),
        has_private_key=_has_key(data),
    )
