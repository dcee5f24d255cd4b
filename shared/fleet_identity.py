"""What the controller and its agents agree on about the controller's identity on the wire.

- CONTROLLER_COMMON_NAME: the subject CN of the controller's certificate (controller/pki.py issues it; no agent
  may enroll under it, controller/services/names.py); agents require it of the peer they call and of a caller
  that names an operator.
- OPERATOR_HEADER: the header the controller names the acting operator in (controller/auth/operators.py writes
  it, agent/security/attribution.py accepts it only from the controller).
"""

from __future__ import annotations

import ssl

from aiohttp.connector import Connection

CONTROLLER_COMMON_NAME = "iisfleet-controller"
OPERATOR_HEADER = "X-IISFleet-Operator"


def peer_certificate_der(conn: Connection) -> bytes | None:
    """The DER certificate the TLS peer of a client connection presented (None over plain TCP)."""
    transport = conn.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    return ssl_object.getpeercert(binary_form=True) or None
