"""Certificate pinning towards agents: each call names the serial the registry holds for the agent, and the
connector refuses an agent whose TLS certificate has another serial, before the request is sent.

The CA check alone would accept any certificate the CA ever issued for that host, including one that
renewal superseded or one of a revoked agent. A pooled connection made before the agent renewed is
dropped and opened again once, since a renewed agent presents its new certificate on new connections.
"""

from __future__ import annotations

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from controller.pki import serial_of
from shared.fleet_identity import peer_certificate_der

PIN_HEADER = "X-IISFleet-Expect-Serial"
"""Names the certificate serial the agent must present (comma-separated when several are valid)."""


class CertificateMismatch(aiohttp.ClientConnectionError):
    """The agent presented a CA-signed certificate that is not its current one."""


def _peer_serial(conn: Connection) -> str | None:
    der = peer_certificate_der(conn)
    return serial_of(der) if der else None


class PinnedConnector(aiohttp.TCPConnector):
    """A TCPConnector that checks the peer certificate's serial against the request's PIN_HEADER."""

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout  # noqa: ASYNC109 - aiohttp's
    ) -> Connection:
        """Get a connection whose certificate serial is one the request names."""
        wanted = {s.strip().lower() for s in req.headers.get(PIN_HEADER, "").split(",") if s.strip()}
        for attempt in (1, 2):
            conn = await super().connect(req, traces, timeout)
            if not wanted:
                return conn
            presented = _peer_serial(conn)
            if presented in wanted:
                return conn
            conn.close()  # never reuse it: its certificate is not (or no longer) the agent's
            if attempt == 2:
                raise CertificateMismatch(
                    f"{req.url.host} presented certificate serial {presented}, not its registered one "
                    f"({', '.join(sorted(wanted))}); the certificate is superseded, revoked or not the agent's"
                )
        raise AssertionError("unreachable")
