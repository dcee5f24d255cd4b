"""The gateway: /api/agents/{id}/iis/{path} forwarded to that agent over mTLS, streamed both ways, audited.

The controller verifies the agent against the CA (hostname included) and its registered certificate serial,
presents its client certificate and adds the agent's API key as `Access-Token: Bearer ...` and the operator's
identity as `X-IISFleet-Operator`. The operator's own credentials never reach the agent. The agent path is
normalised before the role check (controller/auth/roles.py: GATEWAY_RULES); agents outside the key's label
scope answer 404, as if they did not exist.
"""

from __future__ import annotations

import json
import logging
import ssl
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from controller.api.gateway_rewrite import Rewriter, gateway_prefix, read_json
from controller.auth.operators import HEADER as OPERATOR_HEADER
from controller.auth.paths import normalise_agent_path
from controller.auth.roles import Role, agent_path_role, in_scope
from controller.keys import AGENT_SESSION, OPERATOR, SECRET_BOX, SETTINGS, STORE
from controller.services import audit
from controller.services.agent_pin import PIN_HEADER, CertificateMismatch
from controller.services.enrollment import agent_serials
from shared.errors import ApiError, NotFound

log = logging.getLogger("iisfleet.controller.gateway")
CHUNK = 64 * 1024
# Connection-level headers (RFC 9110 7.6.1) plus the caller's credentials, which are for the controller only.
_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "access-token",
        "cookie",  # the console session is for the controller only
        "x-csrf-token",
        OPERATOR_HEADER.lower(),  # only the controller says which operator a call is for
        PIN_HEADER.lower(),
    }
)


class BadGateway(ApiError):
    """The agent could not be reached, or did not prove it is the enrolled agent."""

    status = 502
    title = "Bad gateway"


def _forward_headers(headers: CIMultiDictProxy[str], *, drop_length: bool = False) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _DROP or (drop_length and lowered == "content-length"):
            continue
        out.add(name, value)
    return out


def _raw_agent_path(request: web.Request) -> str:
    return "/" + request.rel_url.raw_path.split("/iis/", 1)[1]


def required_role(request: web.Request) -> Role:
    """The role this gateway call needs: normalise the agent path (400 when unsafe), then GATEWAY_RULES."""
    return agent_path_role(request.method, normalise_agent_path(_raw_agent_path(request)))


async def proxy(request: web.Request) -> web.StreamResponse:
    """Any method: forward to the agent and stream the answer back."""
    app = request.app
    agent_id = request.match_info["id"]
    raw_path = _raw_agent_path(request)
    normalise_agent_path(raw_path)
    record = await app[STORE].agent(agent_id)
    operator = request[OPERATOR]
    if not record or not in_scope(operator.scope, json.loads(record.get("labels") or "{}")):
        raise NotFound(name="id", detail=f"no agent has id {agent_id!r}")
    # The raw (checked) path and query go through untouched (no decode/re-encode round trip).
    query = request.rel_url.raw_query_string
    url = URL(f"{record['url']}{raw_path}" + (f"?{query}" if query else ""), encoded=True)
    headers = _forward_headers(request.headers)
    headers["Access-Token"] = f"Bearer {app[SECRET_BOX].open(record['api_key'])}"
    headers[OPERATOR_HEADER] = operator.header()
    headers[PIN_HEADER] = agent_serials(record)
    started = time.monotonic()
    status = 502
    try:
        async with app[AGENT_SESSION].request(
            request.method,
            url,
            headers=headers,
            data=request.content if request.body_exists else None,
            allow_redirects=False,
            auto_decompress=False,
        ) as upstream:
            status = upstream.status
            rewriter = Rewriter(gateway_prefix(agent_id), record["url"])
            buffered = await read_json(upstream, rewriter) if request.method != "HEAD" else None
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            response.headers.update(rewriter.headers(_forward_headers(upstream.headers, drop_length=True)))
            if buffered is not None and buffered.complete:
                response.content_length = len(buffered.body)
            elif upstream.content_length is not None and request.method != "HEAD":
                response.content_length = upstream.content_length
            await response.prepare(request)
            if buffered is not None:
                await response.write(buffered.body)
            if request.method != "HEAD" and (buffered is None or not buffered.complete):
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            await response.write_eof()
            return response
    except CertificateMismatch as err:
        raise BadGateway(detail=f"agent {record['name']} is not presenting its registered certificate: {err}") from err
    except aiohttp.ClientConnectorCertificateError as err:
        raise BadGateway(detail=f"agent {record['name']} failed TLS verification against the fleet CA: {err}") from err
    except (aiohttp.ClientError, ssl.SSLError, TimeoutError) as err:
        raise BadGateway(detail=f"agent {record['name']} at {record['url']} is unreachable: {err}") from err
    finally:
        await audit.record(
            app[STORE], app[SETTINGS].audit_maxlen, operator, "gateway", agents=[agent_id], method=request.method,
            path=request.path_qs, status=str(status), ms=f"{(time.monotonic() - started) * 1000:.1f}",
        )
