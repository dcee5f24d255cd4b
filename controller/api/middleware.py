"""Error and authentication middlewares of the controller API."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web
from pydantic import ValidationError

from controller.api.gateway_cors import access_token
from controller.api.routing import Handler, route_of
from controller.api.session_auth import COOKIE, session_operator
from controller.auth.operators import SCRAPER
from controller.auth.roles import allows
from controller.keys import AGENT_ID, AUTH_GUARD, OPERATOR, STORE
from controller.services.enrollment import authenticate_agent
from controller.services.errors import Conflict, InvalidRequest, NotPermitted, ServiceError, TooLarge, UnknownAgent
from controller.services.scrape_credentials import authenticate_scraper
from shared.errors import (
    AlreadyExists,
    ApiError,
    Forbidden,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    ServerError,
)

log = logging.getLogger("iisfleet.controller.api")


def to_api_error(err: ServiceError) -> ApiError:
    """The one place service errors become HTTP errors."""
    if isinstance(err, InvalidRequest):
        return InvalidParameter(err.name, str(err))
    if isinstance(err, NotPermitted):
        return Forbidden(detail=str(err))
    if isinstance(err, UnknownAgent):
        return NotFound(name="id", detail=str(err))
    if isinstance(err, TooLarge):
        return PayloadTooLarge(name="body", detail=str(err))
    if isinstance(err, Conflict):
        return AlreadyExists("name", str(err))
    return ServerError(detail=str(err))


def error_response(err: ApiError) -> web.Response:
    """A problem+json response for an ApiError."""
    return web.json_response(
        err.body(), status=err.status, headers=err.headers(), content_type="application/problem+json"
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn service errors, validation errors and crashes into problem+json bodies."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ApiError as err:
        return error_response(err)
    except ServiceError as err:
        return error_response(to_api_error(err))
    except ValidationError as err:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": str(err)}
        name = ".".join(str(part) for part in first["loc"]) or "body"
        return error_response(InvalidParameter(name, str(first["msg"])))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ServerError(detail="The controller failed to handle this request; see its log."))


def peer_certificate(request: web.Request) -> bytes | None:
    """The DER client certificate the TLS layer verified against the CA (None without one)."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    return ssl_object.getpeercert(binary_form=True)


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Operator routes need a valid bearer token holding the row's role; agent routes a valid client certificate."""
    route = route_of(request)
    if route is None or route.auth in ("public", "join_token"):
        return await handler(request)
    store = request.app[STORE]
    if route.auth == "agent":
        request[AGENT_ID] = await authenticate_agent(store, peer_certificate(request))
        return await handler(request)
    if route.auth == "metrics" and await authenticate_scraper(store, peer_certificate(request)):
        # A scrape certificate reads the whole fleet's metrics and targets, and nothing else.
        request[OPERATOR] = SCRAPER
        return await handler(request)
    token = bearer(request) or access_token(request)
    if token is None and COOKIE in request.cookies:
        # The console's session cookie stands in for the token; writes need its CSRF header.
        operator = await session_operator(request)
    else:
        operator = await request.app[AUTH_GUARD].authenticate(store, token, request.remote or "")
    request[OPERATOR] = operator
    needed = route.needs(request)
    if not allows(operator.role, needed):
        raise Forbidden(name="role", detail=f"this needs the {needed} role; key {operator.id} is {operator.role}")
    return await handler(request)
