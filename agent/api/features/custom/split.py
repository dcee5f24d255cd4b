"""Split lists: one API collection over two config collections chosen by `allow` (request filtering urls/queries).

`allow: false` entries live in the deny list (`holder`, keyed by the row's key attribute), `allow: true` entries
in the always-allowed list (`alt_holder`, keyed by `alt_key`); PATCH moves an entry between them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.features.entries import EntryHandlers
from agent.api.features.spec import EntrySpec, FeatureSpec, holder_of
from agent.api.features.target import Target, check_config_scope, from_id, require_modules
from agent.api.http import STATUS_ID_CHANGED, json_response, list_response, read_json
from agent.api.mapping import Bool
from agent.api.refs import reference_id
from agent.iisconfig import ConfigCollection, ConfigElement
from shared.errors import AlreadyExists, InvalidParameter, NotFound


class Split:
    """The two collections of one feature target."""

    def __init__(self, target: Target, spec: EntrySpec) -> None:
        self.target, self.spec = target, spec
        self.member = spec.keys[0].json

    def lists(self, *, local: bool = False) -> tuple[tuple[bool, ConfigCollection, str], ...]:
        """(allow, collection, key attribute) for both lists, effective or local."""
        root = self.target.local() if local else self.target.effective()
        return ((False, holder_of(root, self.spec.holder).collection(), self.spec.keys[0].config),
                (True, holder_of(root, self.spec.alt_holder).collection(), self.spec.alt_key))  # fmt: skip

    def find(self, value: str, allow: bool | None = None) -> tuple[bool, ConfigElement] | None:
        """The effective entry holding `value` (in one list when `allow` is given)."""
        for allowed, collection, attr in self.lists():
            found = collection.find(**{attr: value}) if allow in (None, allowed) else None
            if found is not None:
                return allowed, found
        return None

    def entry_id(self, value: str) -> str:
        """`value\\npath\\nsiteId` under the row's purpose."""
        return self.target.ctx.codec.encode(self.spec.purpose, f"{value}\n{self.target.path}\n{self.target.site_key}")

    def render(self, value: str, allow: bool, *, full: bool) -> dict[str, Any]:
        """An entry as JSON."""
        ctx = self.target.ctx
        values: dict[str, Any] = {self.member: value, "id": self.entry_id(value), "allow": allow}
        if full:
            values[self.target.spec.parent] = self.target.ref()
        out = {name: values[name] for name in ctx.fields.names(values, list(values) if full else [self.member, "id"])}
        if ctx.hal:
            out["_links"] = {"self": {"href": f"{self.target.spec.path}/{self.spec.route}/{values['id']}"}}
        return out

    def write(self, value: str, allow: bool) -> None:
        """Add `value` to the local list `allow` selects."""
        _allowed, collection, attr = self.lists(local=True)[1 if allow else 0]
        collection.add({attr: value})

    def drop(self, value: str, allow: bool) -> None:
        """Remove `value` from the list `allow` selects (a <remove> when inherited)."""
        _allowed, collection, attr = self.lists(local=True)[1 if allow else 0]
        found = self.find(value, allow)
        if found is not None:
            collection.remove(collection.find(**{attr: value}) or found[1])


def _decode(ctx: Ctx, feature: FeatureSpec, spec: EntrySpec, entry_id: str) -> tuple[Split, str]:
    value, path, site = ctx.codec.decode_parts(spec.purpose, entry_id, 3)
    if site and not (site.isdigit() and ctx.index.site(int(site)) is not None):
        raise NotFound(name="site")
    return Split(Target(ctx, feature, ctx.index.site(int(site)) if site else None, path), spec), value


def _value(body: dict[str, Any], name: str) -> str | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise InvalidParameter(name)
    return raw


def split_handlers(feature: FeatureSpec, spec: EntrySpec) -> EntryHandlers:
    """Handlers of a split list (the same verbs as entries.handlers)."""
    member, parent = spec.keys[0].json, feature.parent

    async def list_entries(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        if f"{parent}.id" not in request.query:
            raise NotFound()
        target = from_id(ctx, feature, request.query[f"{parent}.id"])
        assert target is not None
        split = Split(target, spec)
        items = [split.render(str(e.get(attr)), allowed, full=False)
                 for allowed, collection, attr in split.lists() for e in collection]  # fmt: skip
        return list_response(request, spec.plural, items, resource=spec.resource + "s", count=spec.count)

    async def get_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        split, value = _decode(ctx, feature, spec, request.match_info["id"])
        found = split.find(value)
        if found is None:
            raise NotFound(name=spec.plural)
        return json_response(request, split.render(value, found[0], full=True), resource=spec.resource)

    async def create_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        body = await read_json(request)
        parent_id = reference_id(body, parent)
        if parent_id is None:
            raise InvalidParameter(parent)
        target = from_id(ctx, feature, parent_id)
        assert target is not None
        check_config_scope(target, body, request)
        value = _value(body, member)
        if value is None or ("allow" in spec.required and body.get("allow") is None):
            raise InvalidParameter(member if value is None else "allow")
        allow = Bool().from_json(body.get("allow", False), "allow")
        split = Split(target, spec)
        # query strings conflict across both lists, urls only within the list they go to (upstream)
        if split.find(value, None if spec.conflict == "query_string" else allow) is not None:
            raise AlreadyExists(spec.conflict or member)
        target.check_writable()
        async with ctx.store.write():
            split.write(value, allow)
        out = split.render(value, allow, full=True)
        return json_response(request, out, status=201, resource=spec.resource,
                             location=f"{feature.path}/{spec.route}/{out['id']}")  # fmt: skip

    async def update_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        body = await read_json(request)
        split, value = _decode(ctx, feature, spec, request.match_info["id"])
        found = split.find(value)
        if found is None:
            raise NotFound(name=spec.plural)
        new_value = _value(body, member) or value
        allow = Bool().from_json(body["allow"], "allow") if body.get("allow") is not None else found[0]
        if (new_value, allow) != (value, found[0]):
            if new_value.lower() != value.lower() and split.find(new_value) is not None:
                raise AlreadyExists(spec.conflict or member)
            split.target.check_writable()
            async with ctx.store.write():
                split.drop(value, found[0])
                split.write(new_value, allow)
        out = split.render(new_value, allow, full=True)
        if new_value != value:
            return json_response(request, out, status=STATUS_ID_CHANGED, resource=spec.resource,
                                 location=f"{feature.path}/{spec.route}/{out['id']}")  # fmt: skip
        return json_response(request, out, resource=spec.resource)

    async def delete_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        split, value = _decode(ctx, feature, spec, request.match_info["id"])
        check_config_scope(split.target, None, request)
        found = split.find(value)
        if found is not None:
            split.target.check_writable()
            async with ctx.store.write():
                split.drop(value, found[0])
        return web.Response(status=204)

    slug = f"{feature.endpoint}_{spec.route}".replace("/", "_").replace("-", "_")
    for handler, verb in ((list_entries, "list"), (get_entry, "get"), (create_entry, "create"),
                          (update_entry, "update"), (delete_entry, "delete")):  # fmt: skip
        handler.__name__ = handler.__qualname__ = f"{verb}_{slug}"
    return EntryHandlers(list_entries, get_entry, create_entry, update_entry, delete_entry)
