"""Roles carried by fleet-CA client certificates that are not agents (today: Prometheus's scrape credential).

A role is a subjectAltName URI `urn:iisfleet:role:<role>`. The CA only ever puts such a URI into
certificates it issues through `CertificateAuthority.issue_role_certificate`; agent certificates come from
CSRs whose names the controller replaces with the agent's host, and the controller's own certificate has
none, so neither can be mistaken for a role. A role certificate is clientAuth only (no serverAuth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography is imported by the caller that has a certificate; not at start-up
    from cryptography import x509

ROLE_PREFIX = "urn:iisfleet:role:"
METRICS_ROLE = "metrics"


def role_uri(role: str) -> str:
    """The subjectAltName URI that grants `role`."""
    return ROLE_PREFIX + role


def certificate_role(cert: x509.Certificate) -> str | None:
    """The role a clientAuth-only certificate carries, or None (agents, the controller, anything else)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        return None
    roles = [
        uri[len(ROLE_PREFIX) :]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(ROLE_PREFIX)
    ]
    # Exactly one role, and no host names: a certificate that could also name a server is not a role.
    if len(roles) != 1 or san.get_values_for_type(x509.DNSName) or san.get_values_for_type(x509.IPAddress):
        return None
    return roles[0]
