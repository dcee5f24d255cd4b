"""Small request/response helpers shared by the controller's handlers."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from shared.errors import InvalidJsonObject, InvalidParameter

_M = TypeVar("_M", bound=BaseModel)


async def read_model(request: web.Request, model: type[_M]) -> _M:
    """Validate the JSON body against a wire model."""
    body = await request.read()
    if not body:
        raise InvalidParameter("body", "a JSON request body is required")
    return model.model_validate_json(body)


async def read_object(request: web.Request) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    try:
        value = json.loads(await request.read() or b"null")
    except ValueError as err:
        raise InvalidParameter("body", f"the body is not JSON: {err}") from err
    if value is None:
        raise InvalidJsonObject()
    if not isinstance(value, dict):
        raise InvalidParameter("body", "the body must be a JSON object")
    return value


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    """A JSON response from a wire model."""
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")
