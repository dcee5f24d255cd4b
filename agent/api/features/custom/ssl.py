"""SSL settings: require_ssl and client_certificates folded into security/access sslFlags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.api.mapping import Bool, Choice

CLIENT_CERTIFICATES = Choice((("ignore", "ignore"), ("accept", "accept"), ("require", "require")))


def _flags(text: Any) -> set[str]:
    return {p.strip().lower() for p in str(text or "").split(",") if p.strip() and p.strip().lower() != "none"}


def ssl_read(target: Target) -> dict[str, Any]:
    """require_ssl, client_certificates and has_https_binding (read-only)."""
    flags = _flags(target.effective().get("sslFlags"))
    certs = "require" if "sslrequirecert" in flags else "accept" if "sslnegotiatecert" in flags else "ignore"
    bindings = target.site.child("bindings").collection() if target.site is not None else None
    https = bindings is not None and any(str(b.get("protocol")).lower() == "https" for b in bindings)
    return {"require_ssl": bool(flags & {"ssl", "ssl128"}), "client_certificates": certs, "has_https_binding": https}


def ssl_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """Set or clear Ssl/Ssl128 and SslNegotiateCert/SslRequireCert, keeping other flags."""
    require = Bool().from_json(body["require_ssl"], "require_ssl") if body.get("require_ssl") is not None else None
    certs = CLIENT_CERTIFICATES.from_json(body["client_certificates"], "client_certificates") \
        if body.get("client_certificates") is not None else None  # fmt: skip
    if require is None and certs is None:
        return None

    def write() -> None:
        section = target.local()
        names = {"ssl": "Ssl", "ssl128": "Ssl128", "sslnegotiatecert": "SslNegotiateCert",
                 "sslrequirecert": "SslRequireCert", "sslmapcert": "SslMapCert"}  # fmt: skip
        flags = _flags(target.effective().get("sslFlags"))
        if require is not None:
            flags = (flags | {"ssl"}) if require else (flags - {"ssl", "ssl128"})
        if certs is not None:
            flags -= {"sslnegotiatecert", "sslrequirecert"}
            flags |= {"accept": {"sslnegotiatecert"}, "require": {"sslnegotiatecert", "sslrequirecert"}}.get(
                certs, set()
            )
        section.set("sslFlags", ",".join(names[f] for f in sorted(flags) if f in names) or "None")

    return write
