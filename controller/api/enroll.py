"""Agent-facing routes: CA discovery, enrollment with a join token, heartbeats and renewal (mTLS)."""

from __future__ import annotations

from aiohttp import web

from controller.api.http import model_response, read_model
from controller.keys import AGENT_ID, CA, SECRET_BOX, SETTINGS, STORE
from controller.services import enrollment, heartbeats, scrape_credentials
from controller.services.enrollment import EnrollPolicy
from controller.tls import controller_names
from shared.models import EnrollRequest, HeartbeatRequest, HeartbeatResponse, RenewRequest


def _policy(request: web.Request) -> EnrollPolicy:
    settings = request.app[SETTINGS]
    return EnrollPolicy(cert_ttl=settings.agent_cert_ttl, heartbeat_interval=settings.heartbeat_interval,
                        reserved=controller_names(settings))


async def ca_certificate(request: web.Request) -> web.Response:
    """GET /api/enroll/ca: the CA certificate (public; agents check it against the join token's pin)."""
    return web.Response(body=request.app[CA].cert_pem, content_type="application/x-pem-file")


async def enroll(request: web.Request) -> web.Response:
    """POST /api/enroll: join token + CSR -> certificate."""
    body = await read_model(request, EnrollRequest)
    app = request.app
    response = await enrollment.enroll(app[STORE], app[CA], app[SECRET_BOX], body, _policy(request))
    return model_response(response, status=201)


async def heartbeat(request: web.Request) -> web.Response:
    """POST /api/agent/heartbeat: facts and host summary of the calling agent."""
    body = await read_model(request, HeartbeatRequest)
    store = request.app[STORE]
    await heartbeats.record(store, request[AGENT_ID], body)
    revoked = await scrape_credentials.revoked_serials(store)
    interval = request.app[SETTINGS].heartbeat_interval
    return model_response(HeartbeatResponse(heartbeat_interval=interval, revoked_client_serials=revoked))


async def renew(request: web.Request) -> web.Response:
    """POST /api/agent/renew: a new certificate for the calling agent."""
    body = await read_model(request, RenewRequest)
    app = request.app
    response = model_response(await enrollment.renew(app[STORE], app[CA], request[AGENT_ID], body, _policy(request)))
    # Close this connection so the agent's next call handshakes with the new certificate (which retires the
    # old one).
    response.force_close()
    return response
