"""List, get, create, update and delete handlers for a ConfigResource (mix in the ones a family serves).

Every write runs inside one configuration transaction; the answer is rendered from the saved state,
looked up again by the (possibly new) id, so a create or rename answers with what a later GET returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from agent.api.answer_cache import answer_cache, answer_key
from agent.api.context import Ctx, context, current_store
from agent.api.http import created_response, json_bytes_response, read_json, updated_response
from agent.api.resources.base import ConfigResource, T
from agent.api.templates import dumps
from shared.errors import NotFound
from shared.handler import Handler


class ListMixin(ConfigResource[T]):
    """GET {path}: references to the selected items."""

    def select(self, ctx: Ctx, request: web.Request) -> Iterable[T]:
        """The items the query asks for (its own 404/400 when a filter is missing or unknown)."""
        raise NotImplementedError

    async def list(self, request: web.Request) -> web.StreamResponse:
        store = current_store(request)
        state = self._answer_state(request, store)
        if state is not None and (hit := answer_cache(store).lookup(state, answer_key(request))) is not None:
            return hit
        ctx = context(request, store)
        items = self.refs_json(ctx, self.select(ctx, request))
        # Byte for byte json_response({list_key: refs}), built from the cached reference templates.
        data = b"".join((b"{", dumps(self.list_key), b":[", b",".join(items), b"]}"))
        headers = {"X-Total-Count": str(len(items))}
        response = json_bytes_response(request, data, resource=self.list_resource, headers=headers)
        if state is not None:
            answer_cache(store).keep(state, answer_key(request), response)
        return response


class GetMixin(ConfigResource[T]):
    """GET {path}/{id}."""

    async def get(self, request: web.Request) -> web.StreamResponse:
        store = current_store(request)
        state = self._answer_state(request, store)
        if state is not None and (hit := answer_cache(store).lookup(state, answer_key(request))) is not None:
            return hit
        ctx = context(request, store)
        data = self.model_json(ctx, self.find(ctx, request.match_info["id"]))
        response = json_bytes_response(request, data, resource=self.resource)
        if state is not None:
            answer_cache(store).keep(state, answer_key(request), response)
        return response


class CreateMixin(ConfigResource[T]):
    """POST {path}: 201 with the new item and its Location."""

    def check_create(self, body: dict[str, Any]) -> None:
        """Checks that need no configuration (required members), made before the transaction starts."""

    def create_item(self, ctx: Ctx, request: web.Request, body: dict[str, Any]) -> T:
        """Validate the body and add the item (inside the transaction)."""
        raise NotImplementedError

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        self.check_create(body)
        ctx = context(request)
        async with ctx.store.write():
            new_id = self.item_id(ctx, self.create_item(ctx, request, body))
        body = self.model(ctx, self.find(ctx, new_id))
        return created_response(request, body, collection=self.path, resource=self.resource)


class UpdateMixin(ConfigResource[T]):
    """PATCH {path}/{id}: 200, or 209 with the new Location when the change gave the item a new id."""

    async def update_item(self, ctx: Ctx, item: T, body: dict[str, Any]) -> None:
        """Validate the body and change the item (inside the transaction; may change runtime state)."""
        raise NotImplementedError

    async def update(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        ctx = context(request)
        old_id = request.match_info["id"]
        async with ctx.store.write():
            item = self.find(ctx, old_id)
            await self.update_item(ctx, item, body)
            new_id = self.item_id(ctx, item)
        body = self.model(ctx, self.find(ctx, new_id))
        return updated_response(request, body, old_id=old_id, collection=self.path, resource=self.resource)


class DeleteMixin(ConfigResource[T]):
    """DELETE {path}/{id}: 204 whether or not the item existed; an id that does not decode is a 404."""

    async def delete(self, request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        resource_id = request.match_info["id"]
        self.check_id(ctx, resource_id)
        async with ctx.store.write():
            try:
                item = self.find(ctx, resource_id)
            except NotFound:
                return web.Response(status=204)
            self.element(item).remove()
        return web.Response(status=204)


class CrudMixin(ListMixin[T], GetMixin[T], CreateMixin[T], UpdateMixin[T], DeleteMixin[T]):
    """All five handlers."""

    def handlers(self, singular: str, plural: str) -> tuple[Handler, Handler, Handler, Handler, Handler]:
        """list_{plural}, get_, create_, update_ and delete_{singular}: plain functions for the route table.

        They carry the family's module and names, so OpenAPI operation ids and the routing meta test read
        them like any hand-written handler.
        """
        methods = (("list", plural, self.list), ("get", singular, self.get), ("create", singular, self.create),
                   ("update", singular, self.update), ("delete", singular, self.delete))
        made = [_named(method, f"{verb}_{noun}", type(self).__module__) for verb, noun, method in methods]
        return made[0], made[1], made[2], made[3], made[4]


def _named(method: Handler, name: str, module: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await method(request)

    handler.__name__ = handler.__qualname__ = name
    handler.__module__ = module
    handler.__doc__ = method.__doc__
    return handler
