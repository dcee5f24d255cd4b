"""Certificate ids and refs (the `{alias, id, ...}` members bindings and the certificates API show)."""

from __future__ import annotations

from typing import Any

from agent.certificates.model import CertificateInfo
from agent.ids import IdCodec, Purpose
from shared.dates import format_date

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
