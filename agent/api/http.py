"""Request parsing and response rendering shared by every resource handler.

Responses follow upstream: `fields=` selects members, `_links` only when the client asks for HAL,
vendor media types, 201 + Location on create, 209 + Location when an update changed the id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.keys import SETTINGS
from shared.errors import InvalidJsonObject, InvalidParameter, PayloadTooLarge

API_VERSION = "2.3.0"
STATUS_ID_CHANGED = 209

Getter = Callable[[Any, Any], Any]
"""A field getter: (context, item) -> JSON value."""


class FieldSelection:
    """The parsed `fields=` query: None means the caller's default set.

    Names are matched case-insensitively, as upstream's Fields does. A dotted name (`application_pool.identity`)
    selects members of a nested object; `*` selects everything at its level (`application_pool.*` too).
    """

    def __init__(self, raw: str | None) -> None:
        self.all = False
        self.tree: dict[str, FieldSelection] | None = None
        if raw is None:
            return
        self.tree = {}
        for item in raw.split(","):
            self._add(item.strip().lower())

    def _add(self, dotted: str) -> None:
        if not dotted:
            return
        assert self.tree is not None
        if dotted == "*":
            self.all = True
            return
        head, _, rest = dotted.partition(".")
        sub = self.tree.setdefault(head, FieldSelection(None))
        if rest:
            sub.tree = sub.tree if sub.tree is not None else {}
            sub._add(rest)

    def names(self, available: Iterable[str], default: Iterable[str]) -> list[str]:
        """The member names to emit, in the resource's own order; `id` always."""
        available = list(available)
        if self.all:
            return available
        if self.tree is None:
            wanted = set(default)
        else:
            wanted = set(self.tree) | {"id"}
        return [name for name in available if name in wanted]

    def sub(self, name: str) -> FieldSelection | None:
        """The selection under a nested member when dotted names gave one (upstream's `fields.Filter(name)`)."""
        if self.tree is None:
            return None
        sub = self.tree.get(name)
        return sub if sub is not None and sub.tree is not None else None


@dataclass(frozen=True, slots=True)
class Nested:
    """A nested reference member (`application_pool`, `website`, `webapp` ...).

    Rendered as its reference form, unless dotted `fields=` names members under it: then as the referenced
    resource's model with that selection and only its `self` link, as upstream's `ToJsonModelRef(x, fields.Filter(..))`.
    """

    ref: dict[str, Any]
    expand: Callable[[FieldSelection], dict[str, Any]]

    def resolve(self, selection: FieldSelection | None) -> dict[str, Any]:
        """The JSON for a parent's selection of this member."""
        return self.ref if selection is None else self.expand(selection)


def nested_json(value: Any, selection: FieldSelection | None) -> Any:
    """A member value as JSON: nested references resolved, other nested objects narrowed to the sub-fields."""
    if isinstance(value, Nested):
        return value.resolve(selection)
    if selection is not None and selection.tree is not None and not selection.all and isinstance(value, dict):
        return {k: v for k, v in value.items() if k in selection.tree or k in ("id", "_links")}
    return value


def render(
    ctx: Any,
    item: Any,
    getters: Mapping[str, Getter],
    selection: FieldSelection,
    default: Iterable[str],
    links: Callable[[Any, Any], dict[str, str]] | None = None,
    *,
    hal: bool,
    ref_links_only: bool = False,
) -> dict[str, Any]:
    """Build one JSON object from a declarative getter table."""
    out: dict[str, Any] = {}
    for name in selection.names(getters, default):
        out[name] = nested_json(getters[name](ctx, item), selection.sub(name))
    if hal and links is not None:
        all_links = links(ctx, item)
        chosen = {"self": all_links["self"]} if ref_links_only and "self" in all_links else all_links
        out["_links"] = {name: {"href": chosen[name]} for name in sorted(chosen)}
    return out


def wants_hal(request: web.Request) -> bool:
    """Upstream adds `_links` only when Accept names hal somewhere after its first character."""
    return request.headers.get("Accept", "").find("hal") > 0


def selection(request: web.Request) -> FieldSelection:
    """The `fields=` selection of this request."""
    return FieldSelection(request.query.get("fields"))


def media_type(resource: str | None, hal: bool) -> str:
    """Upstream's vendor media type for a resource name."""
    name = resource or ""
    return f"application/vnd.{name}.{API_VERSION}{'.hal' if hal else ''}+json"


def json_response(
    request: web.Request,
    body: Any,
    *,
    status: int = 200,
    resource: str | None = None,
    location: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON response with upstream's media type and cache headers."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return json_bytes_response(request, data, status=status, resource=resource, location=location, headers=headers)


def json_bytes_response(
    request: web.Request,
    data: bytes,
    *,
    status: int = 200,
    resource: str | None = None,
    location: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """json_response for a body already encoded (the same compact UTF-8 JSON), e.g. from a cached template."""
    response = web.Response(
        body=data,
        status=status,
        content_type=media_type(resource, wants_hal(request)).split(";")[0],
        charset="utf-8",
        headers=headers,
    )
    if location:
        response.headers["Location"] = location
    response.headers.setdefault("Cache-Control", "public, max-age=0")
    return response


def list_response(
    request: web.Request, plural: str, items: list[Any], *, resource: str, count: bool = True
) -> web.Response:
    """`{"<plural>": [...]}` with X-Total-Count."""
    headers = {"X-Total-Count": str(len(items))} if count else None
    return json_response(request, {plural: items}, resource=resource, headers=headers)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or the upstream error for what it is instead."""
    limit = request.app[SETTINGS].iisfleet.max_request_body
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(detail=f"The body is {request.content_length} bytes; the limit is {limit}.")
    try:
        # Cached by aiohttp, so the audit middleware and the handler share one read; bounded by client_max_size.
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise PayloadTooLarge(detail=f"The body is over the limit of {limit} bytes.") from err
    if not raw.strip():
        raise InvalidParameter("body", "A JSON object is required.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidParameter("body", f"Malformed JSON: {err}") from err
    if body is None:
        raise InvalidJsonObject()
    if not isinstance(body, dict):
        raise InvalidParameter("body", "A JSON object is required.")
    return body


def created_response(request: web.Request, body: dict[str, Any], *, collection: str, resource: str) -> web.Response:
    """201 with Location: the new resource under its collection path."""
    return json_response(request, body, status=201, resource=resource, location=f"{collection}/{body['id']}")


def updated_response(
    request: web.Request, body: dict[str, Any], *, old_id: str, collection: str, resource: str
) -> web.Response:
    """200, or 209 with the new Location when the update changed the resource's id."""
    if body["id"] == old_id:
        return json_response(request, body, resource=resource)
    location = f"{collection}/{body['id']}"
    return json_response(request, body, status=STATUS_ID_CHANGED, resource=resource, location=location)
