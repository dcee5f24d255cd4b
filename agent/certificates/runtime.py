"""The certificate stores behind an AppKey, their first-run bootstrap, and certificate ids and refs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.certificates.model import CertificateInfo
from agent.certificates.store import CertificateStores
from agent.ids import IdCodec, Purpose
from agent.settings import AgentSettings
from shared.dates import format_date
from shared.paths import expand_path

CERT_STORES = web.AppKey("certificate_stores", CertificateStores)
CERTIFICATES_PATH = "/api/certificates"
STORES_PATH = "/api/certificates/stores"


def certificate_id(codec: IdCodec, info: CertificateInfo) -> str:
    """The opaque id: `{store}\\n{thumbprint}`."""
    return codec.encode(Purpose.CERTIFICATE, f"{info.store}\n{info.thumbprint}")


def store_id(codec: IdCodec, name: str) -> str:
    """The opaque id of a store: its name."""
    return codec.encode(Purpose.CERTIFICATE_STORE, name)


def certificate_ref(codec: IdCodec, info: CertificateInfo, hal: bool) -> dict[str, Any]:
    """`{alias, id, issued_by, subject, thumbprint, valid_to}` (+ self link with HAL)."""
    cid = certificate_id(codec, info)
    ref: dict[str, Any] = {
        "alias": info.alias, "id": cid, "issued_by": info.issued_by, "subject": info.subject,
        "thumbprint": info.thumbprint, "valid_to": format_date(info.valid_to),
    }  # fmt: skip
    if hal:
        ref["_links"] = {"self": {"href": f"{CERTIFICATES_PATH}/{cid}"}}
    return ref


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
