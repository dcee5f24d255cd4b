"""One stored certificate, parsed once into the facts the API shows (names as Windows formats them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
ALIAS_PREFIX = "Friendly Name: "
_KEY_BLOCK = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)
# Windows' friendly names of the usual EKU OIDs (what certmgr and upstream's `intended_purposes` show).
EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "Server Authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "Client Authentication",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "Code Signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "Secure Email",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "Time Stamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSP Signing",
}
SIGNATURE_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512RSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "sha256ECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "sha384ECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "sha512ECDSA",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
    SignatureAlgorithmOID.ED25519: "Ed25519",
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
    block = _KEY_BLOCK.search(data)
    if block is None:
        return False
    try:
        load_pem_private_key(block[0], password=None)
    except (ValueError, TypeError):
        return False
    return True


def read_certificate(path: Path, store: str) -> CertificateInfo:
    """Parse a PEM file (leaf certificate first, optional key); ValueError when it holds no certificate."""
    data = path.read_bytes()
    cert = x509.load_pem_x509_certificates(data)[0]
    try:
        signature = SIGNATURE_NAMES.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string)
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
