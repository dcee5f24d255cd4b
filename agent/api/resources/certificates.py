"""Certificates and certificate stores: /api/certificates, /api/certificates/stores (read-only, as upstream)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.http import json_response, render
from agent.certificates import CertificateInfo, CertificateStores, StoreInfo
from agent.certificates.refs import CERTIFICATES_PATH, STORES_PATH, certificate_id, store_id
from agent.files.ranges import page
from agent.ids import Purpose
from agent.keys import CERT_STORES
from shared.dates import format_date
from shared.errors import Forbidden, NotFound

RESOURCE = "Microsoft.Certificate"
REF_FIELDS = ("alias", "id", "issued_by", "subject", "valid_to", "thumbprint")


def _store_ref(ctx: Ctx, name: str) -> dict[str, Any]:
    sid = store_id(ctx.codec, name)
    ref: dict[str, Any] = {"name": name, "id": sid}
    if ctx.hal:
        ref["_links"] = {"self": {"href": f"{STORES_PATH}/{sid}"}}
    return ref


GETTERS: dict[str, Any] = {
    "alias": lambda ctx, c: c.alias,
    "id": lambda ctx, c: certificate_id(ctx.codec, c),
    "issued_by": lambda ctx, c: c.issued_by,
    "subject": lambda ctx, c: c.subject,
    "thumbprint": lambda ctx, c: c.thumbprint,
    "signature_algorithm": lambda ctx, c: c.signature_algorithm,
    "valid_from": lambda ctx, c: format_date(c.valid_from),
    "valid_to": lambda ctx, c: format_date(c.valid_to),
    "version": lambda ctx, c: c.version,
    "intended_purposes": lambda ctx, c: c.intended_purposes,
    # Keys are stored unencrypted in the store's PEM file, so they can always be exported.
    "private_key": lambda ctx, c: {"exportable": True} if c.has_private_key else None,
    "subject_alternative_names": lambda ctx, c: list(c.subject_alternative_names),
    "store": lambda ctx, c: _store_ref(ctx, c.store),
}


def links(ctx: Ctx, cert: CertificateInfo) -> dict[str, str]:
    """The `_links` of a certificate."""
    return {"self": f"{CERTIFICATES_PATH}/{certificate_id(ctx.codec, cert)}"}


def _readable(store: StoreInfo) -> StoreInfo:
    if not store.readable:
        raise Forbidden(name="certificate_store", certificate_store=store.name)
    return store


def _store_by_id(ctx: Ctx, stores: CertificateStores, resource_id: str, name: str) -> StoreInfo:
    try:
        store = stores.store(ctx.codec.decode(Purpose.CERTIFICATE_STORE, resource_id))
    except NotFound as err:
        raise NotFound(name=name) from err
    if store is None:
        raise NotFound(name=name)
    return store


def _collect(stores: CertificateStores, chosen: list[StoreInfo], purpose: str | None) -> list[CertificateInfo]:
    found = [cert for store in chosen for cert in stores.certificates(store)]
    return [c for c in found if purpose is None or c.has_purpose(purpose)]


async def list_certificates(request: web.Request) -> web.StreamResponse:
    """GET|HEAD /api/certificates[?certificate_store.id=][&intended_purpose=] with `Range: certificates=a-b`."""
    ctx = context(request)
    stores = request.app[CERT_STORES]
    store_filter = request.query.get("certificate_store.id") or request.query.get("store.id")
    if store_filter is not None:
        chosen = [_readable(_store_by_id(ctx, stores, store_filter, "certificate_store.id"))]
    else:
        chosen = [s for s in stores.stores if s.readable]  # stores the caller cannot read are skipped
    certs = await asyncio.to_thread(_collect, stores, chosen, request.query.get("intended_purpose"))
    headers = {"X-Total-Count": str(len(certs)), "Accept-Ranges": "certificates"}
    shown, content_range = page(certs, request.headers.get("Range"), "certificates")
    if content_range is not None:
        headers["Content-Range"] = content_range
    items = [render(ctx, c, GETTERS, ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True) for c in shown]
    return json_response(request, {"certificates": items}, resource="Microsoft.Certificates", headers=headers)


async def get_certificate(request: web.Request) -> web.StreamResponse:
    """GET /api/certificates/{id}."""
    ctx = context(request)
    stores = request.app[CERT_STORES]
    store_name, thumbprint = ctx.codec.decode_parts(Purpose.CERTIFICATE, request.match_info["id"], 2)
    store = stores.store(store_name)
    if store is None:
        raise NotFound(name="certificate")
    _readable(store)
    cert = await asyncio.to_thread(stores.find, store_name, thumbprint)
    if cert is None:
        raise NotFound(name="certificate")
    body = render(ctx, cert, GETTERS, ctx.fields, GETTERS.keys(), links, hal=ctx.hal)
    return json_response(request, body, resource=RESOURCE)


async def list_stores(request: web.Request) -> web.StreamResponse:
    """GET /api/certificates/stores."""
    ctx = context(request)
    items = [_store_ref(ctx, s.name) for s in request.app[CERT_STORES].stores]
    headers = {"X-Total-Count": str(len(items))}
    return json_response(request, {"stores": items}, resource="Microsoft.Certificates.Stores", headers=headers)


async def get_store(request: web.Request) -> web.StreamResponse:
    """GET /api/certificates/stores/{id}: name, claims and the link to its certificates."""
    ctx = context(request)
    store = _store_by_id(ctx, request.app[CERT_STORES], request.match_info["id"], "certificate_store")
    sid = store_id(ctx.codec, store.name)
    body: dict[str, Any] = {"name": store.name, "id": sid, "claims": list(store.claims)}
    if ctx.hal:
        body["_links"] = {
            "certificates": {"href": f"{CERTIFICATES_PATH}?certificate_store.id={sid}"},
            "self": {"href": f"{STORES_PATH}/{sid}"},
        }
    return json_response(request, body, resource="Microsoft.Certificates.Stores")
