"""Agents talk to the controller only: the peer must hold the controller's certificate, not just any CA leaf.

The fleet CA also signs every agent's certificate, for the agent's own host name. Chain and host name
checks alone would accept an agent (or a join-token holder) that got a certificate for the host the
controller answers on. So, after the TLS handshake and before a request is sent, the connector also
requires the controller's common name (controller/pki.py: `iisfleet-controller`), which enrollment never
signs for an agent (controller/services/names.py).
"""

from __future__ import annotations

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from cryptography import x509
from cryptography.x509.oid import NameOID

from shared.fleet_identity import CONTROLLER_COMMON_NAME, peer_certificate_der


class NotTheController(aiohttp.ClientConnectionError):
    """The peer presented a CA-signed certificate that is not the controller's."""


def peer_common_name(conn: Connection) -> str | None:
    """The subject common name of the certificate the peer presented on this connection."""
    der = peer_certificate_der(conn)
    if der is None:
        return None
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class ControllerConnector(aiohttp.TCPConnector):
    """A TCPConnector that refuses any peer whose certificate is not the controller's (before sending)."""

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout  # noqa: ASYNC109 - aiohttp's
    ) -> Connection:
        """A connection to a peer presenting the controller's certificate; NotTheController otherwise."""
        conn = await super().connect(req, traces, timeout)
        name = peer_common_name(conn)
        if name != CONTROLLER_COMMON_NAME:
            conn.close()
            raise NotTheController(f"{req.url.host} presented a certificate for {name!r}, not the controller's "
                                   f"({CONTROLLER_COMMON_NAME!r}); refusing to send anything to it")
        return conn
