"""Prometheus scrape credentials: fleet-CA client certificates with the metrics role.

Prometheus presents one of these to every agent (which serves it `/metrics` and nothing else) and to the
controller (its `/metrics` and HTTP service discovery). The controller keeps the valid serials; revoking
one moves it to a revocation list that every agent receives with its heartbeat answer, so an agent refuses
the certificate from its next heartbeat on, without re-enrolling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509

from controller.pki import CertificateAuthority, IssuedCertificate
from controller.services.errors import InvalidRequest, UnknownAgent
from controller.store import FleetStore
from shared.cert_roles import METRICS_ROLE, certificate_role

DEFAULT_TTL = timedelta(days=365)
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class ScrapeCredential:
    """A freshly issued scrape certificate and its private key (the key is never stored by the controller)."""

    certificate: IssuedCertificate
    key_pem: bytes


async def create(store: FleetStore, ca: CertificateAuthority, name: str, ttl: timedelta) -> ScrapeCredential:
    """Issue a metrics-role client certificate named `name` and record it as valid."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidRequest(f"the credential name must be 1 to {MAX_NAME} printable characters", name="name")
    if ttl <= timedelta(0):
        raise InvalidRequest("the lifetime must be positive", name="ttl")
    issued, key_pem = ca.issue_role_certificate(METRICS_ROLE, name, ttl)
    fields = {
        "name": name,
        "created_on": datetime.now(UTC).isoformat(timespec="seconds"),
        "not_after": issued.not_after.isoformat(timespec="seconds"),
    }
    await store.add_scraper(issued.serial, fields, issued.not_after.timestamp() - time.time())
    return ScrapeCredential(certificate=issued, key_pem=key_pem)


async def revoke(store: FleetStore, serial: str) -> None:
    """Refuse the certificate from now on: the controller at once, agents from their next heartbeat."""
    serial = serial.strip().lower()
    record = await store.scraper(serial)
    if not record:
        raise UnknownAgent(f"no valid scrape credential has serial {serial!r}")
    expires = datetime.fromisoformat(record["not_after"]).timestamp()
    await store.revoke_scraper(serial, expires)


async def revoked_serials(store: FleetStore) -> list[str]:
    """Revoked, not yet expired scrape certificate serials: what agents must refuse."""
    return await store.revoked_scrapers(time.time())


async def authenticate_scraper(store: FleetStore, cert_der: bytes | None) -> str | None:
    """The serial of a valid metrics-role certificate (already verified against the CA by TLS), else None."""
    if not cert_der:
        return None
    cert = x509.load_der_x509_certificate(cert_der)
    if certificate_role(cert) != METRICS_ROLE:
        return None
    serial = format(cert.serial_number, "x")
    return serial if await store.scraper(serial) else None
