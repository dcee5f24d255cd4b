"""The error middleware: every failure leaves as an upstream problem+json body, never a bare 500."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from agent.api.routing import Handler
from shared.errors import ApiError, NotAllowed, NotFound

log = logging.getLogger("iisfleet.agent.api")


def problem_response(error: ApiError) -> web.Response:
    """The upstream problem+json response for an ApiError."""
    response = web.Response(
        body=json.dumps(error.body()).encode("utf-8"),
        status=error.status,
        content_type="application/problem+json",
        headers={"Content-Language": "en", **error.headers()},
    )
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map ApiError and aiohttp's own 404/405/413 to problem bodies, and anything else to a logged 500."""
    try:
        return await handler(request)
    except Exception as err:  # noqa: BLE001 - error_response re-raises what it does not answer
        return error_response(request, err)


def error_response(request: web.Request, err: Exception) -> web.StreamResponse:
    """The answer to a failure escaping a handler (raises what aiohttp itself must answer: other HTTP errors)."""
    if isinstance(err, ApiError):
        if err.status >= 500:
            log.warning("%s %s failed: %s", request.method, request.path, err)
        else:
            log.info("%s %s answered %d %s: %s", request.method, request.path, err.status, err.title, err)
        return problem_response(err)
    if isinstance(err, web.HTTPNotFound):
        return problem_response(NotFound())
    if isinstance(err, web.HTTPMethodNotAllowed):
        return problem_response(NotAllowed())
    if isinstance(err, web.HTTPRequestEntityTooLarge):
        return problem_response(_too_large(err))
    if isinstance(err, web.HTTPException):
        raise err
    # The last line of defence: log it and answer the upstream 500 body.
    log.error("%s %s raised an unexpected error", request.method, request.path, exc_info=err)
    return problem_response(ApiError(detail="An unexpected error occurred; see the agent log."))


def _too_large(err: web.HTTPRequestEntityTooLarge) -> ApiError:
    from shared.errors import PayloadTooLarge

    return PayloadTooLarge(detail=err.text or "The request body is too large.")
