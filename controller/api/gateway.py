"""The gateway: /api/agents/{id}/iis/{path} forwarded to that agent over mTLS, streamed both ways, audited.

The controller verifies the agent against the CA (hostname included), presents its client certificate and
adds the agent's API key as `Access-Token: Bearer ...`. The operator's own credentials never reach the agent.
"""

from __future__ import annotations

import logging
import ssl
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from controller.api.gateway_rewrite import Rewriter, gateway_prefix, read_json
from controller.keys import AGENT_SESSION, OPERATOR, SECRET_BOX, SETTINGS, STORE
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


async def proxy(request: web.Request) -> web.StreamResponse:
    """Any method: forward to the agent and stream the answer back."""
    app = request.app
    agent_id = request.match_info["id"]
    record = await app[STORE].agent(agent_id)
    if not record:
        raise NotFound(name="id", detail=f"no agent has id {agent_id!r}")
    # The raw path and query go through untouched (no decode/re-encode round trip).
    raw_path = request.rel_url.raw_path.split("/iis/", 1)[1]
    query = request.rel_url.raw_query_string
    url = URL(f"{record['url']}/{raw_path}" + (f"?{query}" if query else ""), encoded=True)
    headers = _forward_headers(request.headers)
    headers["Access-Token"] = f"Bearer {app[SECRET_BOX].open(record['api_key'])}"
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
    except aiohttp.ClientConnectorCertificateError as err:
        raise BadGateway(detail=f"agent {record['name']} failed TLS verification against the fleet CA: {err}") from err
    except (aiohttp.ClientError, ssl.SSLError, TimeoutError) as err:
        raise BadGateway(detail=f"agent {record['name']} at {record['url']} is unreachable: {err}") from err
    finally:
        await _audit(request, agent_id, status, time.monotonic() - started)


async def _audit(request: web.Request, agent_id: str, status: int, elapsed: float) -> None:
    fields = {
        "operator": request.get(OPERATOR, ""),
        "method": request.method,
        "path": request.path_qs,
        "agent": agent_id,
        "status": str(status),
        "ms": f"{elapsed * 1000:.1f}",
        "ts": f"{time.time():.3f}",
    }
    try:
        await request.app[STORE].audit(fields, request.app[SETTINGS].audit_maxlen)
    except Exception:  # noqa: BLE001 - a full audit stream must not turn a done call into an error
        log.exception("could not write the audit entry %s", fields)
