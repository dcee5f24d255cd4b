"""Operator attribution: the controller names the operator behind a call in X-IISFleet-Operator.

The header carries compact ASCII JSON `{"id":"<operator key id>","purpose":"<purpose>","role":"<role>"}`.
Only the enrolled controller may send it: the request must be authenticated with a `controller`-scoped
key, and when the connection carries a client certificate it must be the controller's (CN
`iisfleet-controller`, already verified against the fleet CA by the TLS layer). An agent that runs
enrolled requires that certificate. Anybody else sending the header gets 400 and nothing is recorded, so
a local token holder cannot write somebody else's name into the audit log.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aiohttp import web

from agent.keys import OPERATOR, REQUIRE_CONTROLLER_CERTIFICATE
from agent.security.api_key_store import ApiKey
from agent.security.scopes import CONTROLLER
from shared.errors import InvalidParameter
from shared.fleet_identity import CONTROLLER_COMMON_NAME, OPERATOR_HEADER

MAX_HEADER_LENGTH = 1024
MAX_PURPOSE_LENGTH = 256

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_MEMBERS = ("id", "purpose", "role")

log = logging.getLogger("iisfleet.agent.security")


def parse_operator(value: str) -> str:
    """The canonical JSON of a well-formed header value; raises InvalidParameter (400) otherwise."""
    if not value.isascii() or len(value) > MAX_HEADER_LENGTH:
        raise InvalidParameter(OPERATOR_HEADER, f"must be ASCII JSON of at most {MAX_HEADER_LENGTH} characters")
    try:
        doc: Any = json.loads(value)
    except ValueError as err:
        raise InvalidParameter(OPERATOR_HEADER, f"is not JSON: {err}") from err
    if not isinstance(doc, dict) or sorted(doc) != sorted(_MEMBERS):
        raise InvalidParameter(OPERATOR_HEADER, 'must be an object with exactly "id", "purpose" and "role"')
    if not all(isinstance(doc[name], str) for name in _MEMBERS):
        raise InvalidParameter(OPERATOR_HEADER, '"id", "purpose" and "role" must be strings')
    if not _NAME.fullmatch(doc["id"]) or not _NAME.fullmatch(doc["role"]):
        raise InvalidParameter(OPERATOR_HEADER, '"id" and "role" must be 1-128 of A-Z a-z 0-9 _ . : -')
    purpose: str = doc["purpose"]
    if len(purpose) > MAX_PURPOSE_LENGTH or not purpose.isprintable():
        raise InvalidParameter(OPERATOR_HEADER, f'"purpose" must be printable, at most {MAX_PURPOSE_LENGTH} long')
    # Re-serialised ASCII-only: the audit entry can never gain a line break or a forged field.
    return json.dumps({name: doc[name] for name in _MEMBERS}, separators=(",", ":"), ensure_ascii=True)


def peer_common_name(request: web.Request) -> str | None:
    """The CN of the verified client certificate of this connection, or None without one."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for attribute, value in rdn:
            if attribute == "commonName":
                return str(value)
    return ""


def _from_controller(request: web.Request, key: ApiKey | None) -> str | None:
    """None when the caller is the enrolled controller, else why not."""
    if key is None or key.scope != CONTROLLER:
        return "the request is not authenticated with the controller's enrollment key"
    common_name = peer_common_name(request)
    if common_name is None:
        if request.app.get(REQUIRE_CONTROLLER_CERTIFICATE, False):
            return "the connection carries no client certificate of the controller"
        return None
    if common_name != CONTROLLER_COMMON_NAME:
        return f"the client certificate is {common_name!r}, not the controller's"
    return None


def attribute(request: web.Request, key: ApiKey | None) -> None:
    """Store the operator the controller named under OPERATOR; 400 for a malformed or unauthorised header."""
    headers = request.headers
    if OPERATOR_HEADER not in headers:
        return  # the common case: no list to build
    values = headers.getall(OPERATOR_HEADER)
    if len(values) > 1:
        raise InvalidParameter(OPERATOR_HEADER, "must appear once")
    refusal = _from_controller(request, key)
    if refusal is not None:
        log.warning(
            "refused %s from %s on %s %s: %s", OPERATOR_HEADER, request.remote, request.method, request.path, refusal
        )
        raise InvalidParameter(OPERATOR_HEADER, f"only the enrolled controller may send it; {refusal}")
    request[OPERATOR] = parse_operator(values[0])
