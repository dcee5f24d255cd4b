"""Enrollment and renewal: join token + CSR in, certificate signed by the CA out; agents known by certificate."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from controller.pki import CertificateAuthority, CsrError, csr_common_name, load_csr
from controller.services.credentials import check_join_token, consume_join_token
from controller.services.errors import Conflict, InvalidRequest, NotPermitted
from controller.services.names import check_host_name
from controller.store import FleetStore
from shared.models import EnrollRequest, EnrollResponse, RenewRequest, RenewResponse
from shared.secretbox import SecretBox


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollPolicy:
    """How long agent certificates live and how often agents report."""

    cert_ttl: float
    heartbeat_interval: float
    reserved: frozenset[str] = frozenset()
    """Names and addresses in the controller's own certificate (controller/tls.py: controller_names)."""


def _agent_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.port is None:
        raise InvalidRequest(f"url {url!r} must be https://host:port")
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password or parts.fragment:
        raise InvalidRequest(f"url {url!r} must not have a path, query, user or fragment")
    return check_host_name(parts.hostname, name="url")


async def enroll(
    store: FleetStore, ca: CertificateAuthority, box: SecretBox, request: EnrollRequest, policy: EnrollPolicy
) -> EnrollResponse:
    """Check CSR and name, use up the join token, sign the certificate and register the agent."""
    check_host_name(request.name, name="name")
    host = _agent_host(request.url)
    for field, value in (("name", request.name), ("url", host)):
        if value.lower().rstrip(".") in policy.reserved:
            raise NotPermitted(f"{field} {value!r} is a name of the controller's own certificate; an agent "
                               "certificate for it would let its holder pose as the controller")
    try:
        csr = load_csr(request.csr)
    except CsrError as err:
        raise InvalidRequest(str(err)) from err
    if csr_common_name(csr) != request.name:
        raise NotPermitted(f"the CSR is for {csr_common_name(csr)!r}, but the agent enrolls as {request.name!r}")
    # The token is checked (not used up) before the name clash, which would otherwise tell anyone which names
    # exist; it is used up only after, so a clash does not burn the operator's token.
    await check_join_token(store, request.token, request.name, host)
    if await store.agent_id_by_name(request.name):
        raise Conflict(f"an agent named {request.name!r} is already enrolled; revoke it first or pick another name")
    url = request.url.rstrip("/")
    labels = await consume_join_token(store, request.token, request.name, host)
    agent_id = uuid.uuid4().hex[:16]
    if not await store.claim_name(request.name, agent_id):
        raise Conflict(f"an agent named {request.name!r} is already enrolled; revoke it first or pick another name")
    try:
        issued = ca.sign_csr(request.csr, request.name, [host], timedelta(seconds=policy.cert_ttl))
    except CsrError as err:
        await store.release_name(request.name, agent_id)
        raise InvalidRequest(str(err)) from err
    now = time.time()
    await store.put_agent(
        agent_id,
        {
            "name": request.name,
            "url": url,
            "labels": json.dumps(labels),
            "facts": request.facts.model_dump_json(),
            "enrolled_on": datetime.now(UTC).isoformat(timespec="seconds"),
            "cert_serial": issued.serial,
            "cert_expires_on": issued.not_after.isoformat(timespec="seconds"),
            "api_key": box.seal(request.api_key),
        },
    )
    await store.add_serial(agent_id, issued.serial, issued.not_after.timestamp() - now)
    await store.record_heartbeat(agent_id, now, request.facts.model_dump_json(), "{}")
    return EnrollResponse(
        agent_id=agent_id,
        certificate=issued.pem,
        ca=ca.cert_pem.decode(),
        heartbeat_interval=policy.heartbeat_interval,
    )


async def authenticate_agent(store: FleetStore, cert_der: bytes | None) -> str:
    """The id of the agent presenting this (CA-verified) client certificate; refuse revoked or unknown ones."""
    if not cert_der:
        raise NotPermitted("this call needs the agent's client certificate")
    cert = x509.load_der_x509_certificate(cert_der)
    agent_id = await store.serial_owner(format(cert.serial_number, "x"))
    if agent_id is None:
        raise NotPermitted("this certificate is revoked or unknown; the agent must enroll again")
    record = await store.agent(agent_id)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not record or not names or str(names[0].value) != record.get("name"):
        raise NotPermitted("this certificate is revoked or unknown; the agent must enroll again")
    serial = format(cert.serial_number, "x")
    if serial == record.get("cert_serial"):
        if record.get("prev_serial"):  # the agent uses its renewed certificate: the old one is done
            await store.retire_serial(agent_id, record["prev_serial"], time.time())
            await store.put_agent(agent_id, {"prev_serial": ""})
        return agent_id
    if serial == record.get("prev_serial"):
        return agent_id  # renewed, but the agent has not switched yet (the answer may have been lost)
    raise NotPermitted("this certificate has been superseded by a renewal; use the current one")


def agent_serials(record: dict[str, str]) -> str:
    """The certificate serials an agent may present (PIN_HEADER form): the current one, and the one it
    renewed from until it has used the new one."""
    return ",".join(serial for serial in (record.get("cert_serial"), record.get("prev_serial")) if serial)


async def renew(
    store: FleetStore, ca: CertificateAuthority, agent_id: str, request: RenewRequest, policy: EnrollPolicy
) -> RenewResponse:
    """Sign a new certificate for an agent's new key; the CSR must name that same agent."""
    record = await store.agent(agent_id)
    if not record:
        raise NotPermitted("this agent has been revoked")
    try:
        issued = ca.sign_csr(
            request.csr, record["name"], [_agent_host(record["url"])], timedelta(seconds=policy.cert_ttl)
        )
    except CsrError as err:
        raise NotPermitted(f"renewal refused: {err}") from err
    # The serial renewed from stays valid until the agent first uses the new one (then it is retired), so
    # an answer lost on the way cannot lock the agent out; a serial older than that is retired now.
    if record.get("prev_serial"):
        await store.retire_serial(agent_id, record["prev_serial"], time.time())
    await store.add_serial(agent_id, issued.serial, issued.not_after.timestamp() - time.time())
    await store.put_agent(agent_id, {
        "cert_serial": issued.serial, "prev_serial": record.get("cert_serial", ""),
        "cert_expires_on": issued.not_after.isoformat(timespec="seconds"),
    })
    return RenewResponse(certificate=issued.pem)
