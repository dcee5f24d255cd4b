"""The controller's certificate authority: signs agent CSRs and the controller's own server/client certificate."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.state_lock import state_lock
from shared.cert_roles import role_uri
from shared.fleet_identity import CONTROLLER_COMMON_NAME
from shared.fsutil import atomic_write_bytes
from shared.x509util import BACKDATE, general_names, leaf_key_usage

CA_VALIDITY = timedelta(days=3650)
CONTROLLER_VALIDITY = timedelta(days=365)


class CsrError(ValueError):
    """A CSR that does not parse, is not self-signed correctly or names the wrong subject."""


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A signed certificate and what the registry records about it."""

    pem: str
    serial: str
    not_after: datetime


def fingerprint(cert_pem: bytes | str) -> str:
    """sha256 of the certificate's DER, lowercase hex: the pin carried in join tokens."""
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    cert = x509.load_pem_x509_certificate(data)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    """The CN of a CSR's subject ("" if it has none)."""
    attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and check its self-signature."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as err:
        raise CsrError(f"the CSR does not parse: {err}") from err
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not match its public key")
    return csr


def serial_of(cert_der: bytes) -> str:
    """The serial number of a DER certificate, as lowercase hex."""
    return format(x509.load_der_x509_certificate(cert_der).serial_number, "x")


class CertificateAuthority:
    """A CA key pair kept as `ca.crt` / `ca.key` (0600) in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_file = directory / "ca.crt"
        self.key_file = directory / "ca.key"
        with state_lock(directory):  # controllers sharing the directory create one CA, not one each
            if not (self.cert_file.exists() and self.key_file.exists()):
                self._create()
            os.chmod(self.key_file, 0o600)
            self.cert_pem = self.cert_file.read_bytes()
            key_pem = self.key_file.read_bytes()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.key_file} is not an EC private key")
        self._key = key
        self.fingerprint = fingerprint(self.cert_pem)

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"IIS Fleet CA {socket.gethostname()}")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write_bytes(self.key_file, key_pem, mode=0o600)
        atomic_write_bytes(self.cert_file, cert.public_bytes(serialization.Encoding.PEM))

    def sign(
        self, public_key: ec.EllipticCurvePublicKey | object, common_name: str, hosts: Iterable[str], ttl: timedelta
    ) -> IssuedCertificate:
        """Issue a serverAuth + clientAuth certificate for `common_name`, valid for `hosts`."""
        builder, not_after = self._leaf(public_key, common_name, ttl)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        names = general_names(hosts)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return IssuedCertificate(pem=pem, serial=format(cert.serial_number, "x"), not_after=not_after)

    def sign_csr(self, csr_pem: str, common_name: str, hosts: Iterable[str], ttl: timedelta) -> IssuedCertificate:
        """Check that the CSR asks for `common_name`, then sign its public key."""
        csr = load_csr(csr_pem)
        requested = csr_common_name(csr)
        if requested != common_name:
            raise CsrError(f"the CSR is for {requested!r}, not for {common_name!r}")
        if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
            raise CsrError("the CSR's key must be an EC key")
        return self.sign(csr.public_key(), common_name, hosts, ttl)

    def issue_role_certificate(self, role: str, common_name: str, ttl: timedelta) -> tuple[IssuedCertificate, bytes]:
        """(certificate, PKCS#8 key PEM) of a clientAuth-only certificate whose only SAN is the role URI."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder, not_after = self._leaf(key.public_key(), common_name, ttl)
        cert = (
            builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(role_uri(role))]), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return IssuedCertificate(pem=pem, serial=format(cert.serial_number, "x"), not_after=not_after), key_pem

    def _leaf(
        self, public_key: ec.EllipticCurvePublicKey | object, common_name: str, ttl: timedelta
    ) -> tuple[x509.CertificateBuilder, datetime]:
        """A leaf certificate for `common_name` up to its extended key usage, and its end (capped by the CA's)."""
        now = datetime.now(UTC)
        not_after = min(now + ttl, self.cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(leaf_key_usage(), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        return builder, not_after

    def issue_controller_certificate(self, cert_file: Path, key_file: Path, hosts: Iterable[str]) -> None:
        """Write a fresh certificate the controller uses as HTTPS server and as client towards agents."""
        key = ec.generate_private_key(ec.SECP256R1())
        all_hosts = [*hosts, "localhost", "127.0.0.1", socket.gethostname()]
        issued = self.sign(key.public_key(), CONTROLLER_COMMON_NAME, all_hosts, CONTROLLER_VALIDITY)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write_bytes(key_file, key_pem, mode=0o600)
        atomic_write_bytes(cert_file, issued.pem.encode())
