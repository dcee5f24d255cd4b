"""The agent's side of fleet membership once enrolled: mTLS server context, heartbeats and certificate renewal.

Heartbeats are jittered; failures back off exponentially with full jitter so that a fleet reconnecting to a
restarted controller spreads out instead of arriving at once. The certificate is renewed at two thirds of
its lifetime, in place: the server and client TLS contexts load the new pair for new connections.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from cryptography import x509

from agent.controller_identity import ControllerConnector
from agent.enrollment import Enrollment, client_context, new_identity
from agent.security.metrics_cert import RevokedSerials
from shared.fsutil import atomic_write_bytes
from shared.models import (
    AgentFacts,
    HeartbeatRequest,
    HeartbeatResponse,
    HostSummary,
    PoolSummary,
    RenewRequest,
    RenewResponse,
    SiteSummary,
)

log = logging.getLogger("iisfleet.agent.controller")
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
RENEW_AT = 2 / 3
SummaryFn = Callable[[], tuple[AgentFacts, HostSummary]]


class Refused(Exception):
    """The controller refuses this agent (revoked); the link stops."""


def server_context(enrollment: Enrollment) -> ssl.SSLContext:
    """Serve with the CA-signed certificate; accept (not require) client certificates chaining to the CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(enrollment.ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(enrollment.identity_file)
    # Operators without a client certificate still use their access tokens.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def backoff(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 30)))


def renew_due(identity_pem: bytes, now: datetime | None = None) -> bool:
    """Whether two thirds of the certificate's lifetime have passed."""
    cert = x509.load_pem_x509_certificate(identity_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return (now or datetime.now(UTC)) >= start + (end - start) * RENEW_AT


def host_summary(app: Any) -> tuple[AgentFacts, HostSummary]:
    """Sites and pools from the configuration, states from the host, counters when the host has them."""
    from agent.enrollment import gather_facts
    from agent.iisconfig.index import server_index
    from agent.keys import CONFIG_STORE, HOST

    store, host = app[CONFIG_STORE], app[HOST]
    store.refresh_if_changed()
    index = server_index(store)
    # Only a running embedded host has counters; the others report states without totals.
    snapshot = host.snapshot()
    site_stats = snapshot.sites if snapshot is not None else {}
    pool_stats = snapshot.pools if snapshot is not None else {}
    sites = [
        SiteSummary(
            name=name,
            status=str(host.site_status(name)),
            requests_total=site_stats[name].requests_total if name in site_stats else None,
        )
        for name in (str(site.get("name")) for site in index.sites)
    ]
    pools = [
        PoolSummary(
            name=name,
            status=str(host.pool_status(name)),
            requests_total=pool_stats[name].requests_total if name in pool_stats else None,
            worker_starts_total=pool_stats[name].worker_starts if name in pool_stats else None,
        )
        for name in (str(pool.get("name")) for pool in index.pools)
    ]
    facts = gather_facts(getattr(host, "name", ""), len(sites), len(pools))
    return facts, HostSummary(sites=sites, pools=pools)


class ControllerLink:
    """Heartbeats and renewals towards the controller for one enrollment."""

    def __init__(
        self,
        enrollment: Enrollment,
        summary: SummaryFn,
        server_ssl: ssl.SSLContext | None = None,
        revoked: RevokedSerials | None = None,
    ) -> None:
        self.enrollment = enrollment
        self.revoked = revoked
        self.summary = summary
        self.server_ssl = server_ssl
        self.client_ssl = client_context(enrollment.ca_file.read_bytes(), enrollment.identity_file)
        self.interval = enrollment.heartbeat_interval
        self.base = enrollment.controller_url

    async def run(self) -> None:
        """Beat until cancelled or refused."""
        connector = ControllerConnector(ssl=self.client_ssl, limit=2)  # the controller's certificate only
        timeout = aiohttp.ClientTimeout(total=max(10.0, self.interval * 2))
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            # A random first delay spreads agents that start together over one interval.
            await asyncio.sleep(random.uniform(0, min(self.interval, 5.0)))
            failures = 0
            while True:
                try:
                    await self.heartbeat(session)
                    if renew_due(self.enrollment.identity_file.read_bytes()):
                        await self.renew(session)
                    if failures:
                        log.info("controller reachable again after %d failed attempts", failures)
                    failures = 0
                    delay = self.interval * random.uniform(0.8, 1.0)
                except Refused as err:
                    log.error("the controller refuses this agent: %s; no more heartbeats", err)
                    return
                except (aiohttp.ClientError, TimeoutError, OSError) as err:
                    failures += 1
                    delay = backoff(failures)
                    log.warning("heartbeat to %s failed (%s); retrying in %.1fs", self.base, err, delay)
                await asyncio.sleep(delay)

    async def _post(self, session: aiohttp.ClientSession, path: str, body: str) -> bytes:
        async with session.post(self.base + path, data=body, headers={"Content-Type": "application/json"}) as response:
            payload = await response.read()
            if response.status == 403:
                raise Refused(payload.decode(errors="replace")[:500])
            if response.status >= 400:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=payload.decode(errors="replace")[:200]
                )
            return payload

    async def heartbeat(self, session: aiohttp.ClientSession) -> None:
        """Send facts and the host summary; adopt the interval the controller asks for."""
        facts, summary = self.summary()
        payload = await self._post(
            session, "/api/agent/heartbeat", HeartbeatRequest(facts=facts, summary=summary).model_dump_json()
        )
        answer = HeartbeatResponse.model_validate_json(payload)
        self.interval = answer.heartbeat_interval
        if self.revoked is not None:
            self.revoked.replace(answer.revoked_client_serials)

    async def renew(self, session: aiohttp.ClientSession) -> None:
        """Get a certificate for a new key and switch both TLS contexts to it."""
        key_pem, csr = new_identity(self.enrollment.name)
        payload = await self._post(session, "/api/agent/renew", RenewRequest(csr=csr).model_dump_json())
        cert_pem = RenewResponse.model_validate_json(payload).certificate.encode()
        atomic_write_bytes(self.enrollment.identity_file, cert_pem + key_pem, mode=0o600)
        for context in (self.client_ssl, self.server_ssl):
            if context is not None:
                context.load_cert_chain(self.enrollment.identity_file)
        log.info("certificate renewed; valid until %s", x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc)
