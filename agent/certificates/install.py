"""The certificate stores' place in the agent application and their first-run bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from agent.certificates.store import CertificateStores
from agent.keys import CERT_STORES
from agent.settings import AgentSettings
from shared.paths import expand_path


def install_certificates(app: web.Application, settings: AgentSettings, state_dir: Path) -> None:
    """Add the stores (AppKey) and their bootstrap at startup."""
    app[CERT_STORES] = CertificateStores(state_dir / "certificates", settings.certificates)

    async def bootstrap(app: web.Application) -> AsyncIterator[None]:
        # At startup, not in build_app: `agent run` writes its own TLS certificate between the two.
        tls = settings.iisfleet.tls
        if tls.cert_file and tls.key_file:
            cert, key = Path(expand_path(tls.cert_file)), Path(expand_path(tls.key_file))
        else:
            cert, key = state_dir / "certs" / "agent.crt", state_dir / "certs" / "agent.key"
        await asyncio.to_thread(app[CERT_STORES].bootstrap, cert, key)
        yield

    app.cleanup_ctx.append(bootstrap)
