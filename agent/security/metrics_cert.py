"""Prometheus's scrape certificate: a fleet-CA client certificate with the metrics role reaches /metrics only.

An enrolled agent's TLS server asks for an optional client certificate and verifies it against the fleet
CA (agent/controller_link.py: server_context), so agents enrolled before scrape credentials existed accept
one without re-enrolling. Here the verified certificate's role is read (shared/cert_roles.py): a metrics
certificate gets GET/HEAD /metrics and a 403 everywhere else, even next to an access token, and a serial
the controller lists as revoked (sent with every heartbeat answer, kept in the state directory across
restarts) gets a 403 everywhere. Certificates without a role (agents, the controller) change nothing.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from aiohttp import web

from shared.cert_roles import METRICS_ROLE, certificate_role
from shared.fsutil import atomic_write_text

log = logging.getLogger("iisfleet.agent.security")

METRICS_PATH = "/metrics"
METRICS_METHODS = frozenset({"GET", "HEAD"})
REVOKED_FILE = Path("controller") / "revoked-client-serials.json"


class RevokedSerials:
    """The controller's list of revoked scrape certificate serials, mirrored in a state-directory file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._serials: frozenset[str] = frozenset()
        if path.exists():
            try:
                self._serials = frozenset(str(s).lower() for s in json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError) as err:
                # Fail closed is impossible without the list; the next heartbeat brings it back.
                log.error("ignoring unreadable %s (%s) until the next heartbeat", path, err)

    def __contains__(self, serial: object) -> bool:
        return serial in self._serials

    def replace(self, serials: Iterable[str]) -> None:
        """Adopt the controller's whole list (written only when it changed)."""
        new = frozenset(serial.lower() for serial in serials)
        if new != self._serials:
            atomic_write_text(self.path, json.dumps(sorted(new)) + "\n")
            self._serials = new
            log.info("now refusing %d revoked scrape certificate(s)", len(new))


# Beside its type, not in agent.keys: this module reads it, and agent.keys would import this module.
SCRAPE_REVOCATIONS = web.AppKey("iisfleet.security.scrape_revocations", RevokedSerials)


def install_scrape_certificates(app: web.Application, state_dir: Path) -> None:
    """Load the revocation list kept from earlier heartbeats."""
    app[SCRAPE_REVOCATIONS] = RevokedSerials(state_dir / REVOKED_FILE)


@lru_cache(maxsize=64)
def _role_and_serial(der: bytes) -> tuple[str | None, str]:
    from cryptography import x509  # only enrolled agents see client certificates

    cert = x509.load_der_x509_certificate(der)
    return certificate_role(cert), format(cert.serial_number, "x")


def _verified_peer(request: web.Request) -> bytes | None:
    """The client certificate, only when the TLS context verified it against the fleet CA."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)  # first: no certificate is the common case, and cheap to see
    if not der or ssl_object.context.verify_mode == ssl.CERT_NONE:
        return None
    return der


def scraper_access(request: web.Request) -> bool | None:
    """None without a scrape certificate; else whether this request is the one thing it may do."""
    der = _verified_peer(request)
    if not der:
        return None
    role, serial = _role_and_serial(der)
    if role != METRICS_ROLE:
        return None
    if serial in request.app[SCRAPE_REVOCATIONS]:
        log.warning("refused %s %s: scrape certificate %s is revoked", request.method, request.path, serial)
        return False
    if request.path != METRICS_PATH or request.method not in METRICS_METHODS:
        log.warning("refused %s %s: a scrape certificate reaches GET /metrics only", request.method, request.path)
        return False
    return True
