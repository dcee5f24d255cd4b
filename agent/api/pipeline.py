"""The agent's one middleware: the five request layers, and a short path for the reads that need only two.

The layers, outermost first: CORS (agent.security.cors), errors (agent.api.middleware), authorization
(agent.security.auth), configuration transactions (agent.api.transactions) and audit (agent.security.audit).
A GET or HEAD with neither an `Origin` nor a `Transaction-Id` header passes CORS, transactions and audit
untouched (no CORS headers to add, the committed store to read, nothing to audit), so it runs only the
error and authorization layers; everything else runs all five in order. One aiohttp middleware instead
of five saves four handler frames on every request.
"""

from __future__ import annotations

from functools import partial

from aiohttp import web

from agent.api.middleware import error_middleware, error_response
from agent.api.transactions import HEADER as TRANSACTION_HEADER
from agent.api.transactions import transaction_middleware
from agent.security.audit import audit_middleware
from agent.security.auth import auth_middleware
from agent.security.cors import cors_middleware
from shared.handler import Handler

PLAIN_READS = frozenset({"GET", "HEAD"})

LAYERS = (cors_middleware, error_middleware, auth_middleware, transaction_middleware, audit_middleware)
"""Request order: CORS outermost so its headers survive errors; audit innermost so it sees only successes."""


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the layers a request needs around `handler`."""
    headers = request.headers
    if request.method in PLAIN_READS and "Origin" not in headers and TRANSACTION_HEADER not in headers:
        try:
            return await auth_middleware(request, handler)
        except Exception as err:  # noqa: BLE001 - the error layer inline (one frame less): error_response re-raises
            return error_response(request, err)
    chained = handler
    for layer in reversed(LAYERS):
        chained = partial(layer, handler=chained)
    return await chained(request)
