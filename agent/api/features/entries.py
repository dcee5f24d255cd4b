"""Generic child collections of a feature (`/entries`, `/files`, `/mime-maps` ...): list, get, add, patch, delete.

Reads use the effective collection at the feature's path; writes go to the feature's level, where removing or
changing an inherited entry writes `<remove>` (+ `<add>`), as IIS does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from lxml import etree

from agent.api import mapping
from agent.api.context import Ctx, context
from agent.api.features.spec import EntrySpec, FeatureSpec, holder_of
from agent.api.features.target import Target, check_config_scope, check_scope_allowed, from_id, require_modules
from agent.api.http import STATUS_ID_CHANGED, json_response, list_response, read_json
from agent.api.refs import reference_id
from agent.api.routing import Handler
from agent.iisconfig import ConfigCollection, ConfigElement
from shared.errors import AlreadyExists, InvalidParameter, Locked, NotFound


def _text(value: Any) -> str:
    """Configuration text of a parsed key value (what ids and lookups use)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(slots=True)
class Entries:
    """One feature target's collection, as seen by one entry spec."""

    target: Target
    spec: EntrySpec

    def effective(self) -> ConfigCollection:
        """The merged collection at the feature's path."""
        return holder_of(self.target.effective(self.spec.section or None), self.spec.holder).collection()

    def local(self) -> ConfigCollection:
        """The writable collection at the feature's level."""
        return holder_of(self.target.local(self.spec.section or None), self.spec.holder).collection()

    def check_writable(self) -> None:
        """403 when the feature, or the section holding this list, may not be configured at this level."""
        self.target.check_writable()
        if self.spec.section and self.target.is_locked(self.spec.section):
            raise Locked(name=self.spec.section)

    def key_of(self, entry: ConfigElement) -> dict[str, str]:
        """Key attribute -> configuration text of an entry."""
        return {attr.config: _text(entry.get(attr.config) or "") for attr in self.spec.keys}

    def entry_id(self, key: dict[str, str]) -> str:
        """Key values, path and site id, encrypted with the entry purpose."""
        keys = [key[attr.config] for attr in self.spec.keys]
        where = [self.target.path, self.target.site_key]
        parts = [*where, *keys] if self.spec.key_last else [*keys, *where]
        return self.target.ctx.codec.encode(self.spec.purpose, "\n".join(parts))

    def href(self, key: dict[str, str]) -> str:
        """URL of an entry."""
        return f"{self.target.spec.path}/{self.spec.route}/{self.entry_id(key)}"

    def render(self, entry: ConfigElement, *, full: bool) -> dict[str, Any]:
        """An entry as JSON (list items carry the ref members only, unless fields= asks for more)."""
        key = self.key_of(entry)
        values = mapping.read(entry, self.spec.all_fields)
        values["id"] = self.entry_id(key)
        extra = self.spec.read(self.target, entry) if self.spec.read is not None else {}
        values.update(extra)
        if full:
            values[self.target.spec.parent_member] = self.target.ref()
        ctx = self.target.ctx
        parent = self.target.spec.parent_member
        default = [*(a.json.split(".")[0] for a in self.spec.all_fields), *extra, "id", parent] \
            if full else [self.spec.keys[0].json.split(".")[0], "id", *self.spec.ref_fields]  # fmt: skip
        names = ctx.fields.names(values, default)
        out = {name: values[name] for name in names}
        if ctx.hal:
            out["_links"] = {"self": {"href": self.href(key)}}
        return out

    def find(self, key: dict[str, str]) -> ConfigElement | None:
        """The effective entry with this key."""
        return self.effective().find(**key)


def _feature_target(ctx: Ctx, feature: FeatureSpec, feature_id: str) -> Target:
    target = from_id(ctx, feature, feature_id)
    assert target is not None
    return target


def _decode(ctx: Ctx, feature: FeatureSpec, spec: EntrySpec, entry_id: str) -> tuple[Entries, dict[str, str]]:
    parts = ctx.codec.decode_parts(spec.purpose, entry_id, len(spec.keys) + 2)
    if spec.key_last:
        parts = [*parts[2:], *parts[:2]]
    key = {attr.config: parts[i] for i, attr in enumerate(spec.keys)}
    path, site = parts[-2], parts[-1]
    if site and not (site.isdigit() and ctx.index.site(int(site)) is not None):
        raise NotFound(name="site")
    target = Target(ctx, feature, ctx.index.site(int(site)) if site else None, path)
    return Entries(target, spec), key


def _set(element: ConfigElement, path: str, value: Any) -> None:
    """Set `child/attribute` (rules keep match/action settings in child elements)."""
    *children, attribute = path.split("/")
    for child in children:
        element = element.child(child)
    element.set(attribute, value)


def _insert_first(collection: ConfigCollection, element: ConfigElement) -> None:
    """Move a just-added entry before the level's other entries (after a local <clear/>)."""
    owner, node = collection.owner.element, element.element
    if owner is None or node is None:
        return
    position = 0
    for index, child in enumerate(owner):
        if child.tag == collection.schema.clear:
            position = index + 1
    owner.remove(node)
    owner.insert(position, node)


@dataclass(frozen=True, slots=True)
class EntryHandlers:
    """The aiohttp handlers of one child collection."""

    list: Handler
    get: Handler
    create: Handler
    patch: Handler
    delete: Handler


def handlers(feature: FeatureSpec, spec: EntrySpec) -> EntryHandlers:
    """Build the handlers of one child collection of a feature row."""
    parent_query = f"{feature.parent}.id"
    single = spec.resource

    async def list_entries(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        if parent_query not in request.query:
            raise NotFound()
        target = _feature_target(ctx, feature, request.query[parent_query])
        target.check_readable()
        entries = Entries(target, spec)
        items = [entries.render(e, full=False) for e in entries.effective()]
        return list_response(request, spec.plural, items, resource=single + "s", count=spec.count)

    async def get_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        entries, key = _decode(ctx, feature, spec, request.match_info["id"])
        found = entries.find(key)
        if found is None:
            raise NotFound(name=spec.plural)
        return json_response(request, entries.render(found, full=True), resource=single)

    async def create_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        body = await read_json(request)
        parent_id = reference_id(body, feature.parent_member)
        if parent_id is None:
            raise InvalidParameter(feature.parent_member)
        target = _feature_target(ctx, feature, parent_id)
        check_config_scope(target, body, request)
        check_scope_allowed(target)
        for name in spec.required:
            if body.get(name) in (None, ""):
                raise InvalidParameter(name)
        attrs = {attr.config: value for attr, value in mapping.parse(body, spec.all_fields)}
        for attr in spec.keys:
            attrs.setdefault(attr.config, "")
        if spec.on_create is not None:
            attrs = spec.on_create(target, attrs)
        extra = spec.write(target, body, True) if spec.write is not None else None
        entries = Entries(target, spec)
        key = {attr.config: _text(attrs[attr.config]) for attr in spec.keys}
        if entries.find(key) is not None:
            raise AlreadyExists(spec.conflict or spec.keys[0].json)
        entries.check_writable()
        async with ctx.store.write():
            local = entries.local()
            added = local.add({k: v for k, v in attrs.items() if v != "" and "/" not in k})
            for name, value in attrs.items():
                if "/" in name:
                    _set(added, name, value)
            if spec.first:
                _insert_first(local, added)
            if extra is not None:
                extra(added)
        body_out = entries.render(entries.find(key) or added, full=True)
        if spec.created_status != 201:
            return json_response(request, body_out, status=spec.created_status, resource=single)
        href = f"{feature.path}/{spec.route}/{body_out['id']}"
        return json_response(request, body_out, status=201, resource=single, location=href)

    async def update_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        body = await read_json(request)
        entries, key = _decode(ctx, feature, spec, request.match_info["id"])
        found = entries.find(key)
        if found is None:
            raise NotFound(name=spec.plural)
        check_scope_allowed(entries.target)
        changes = {attr.config: value for attr, value in mapping.parse(body, spec.all_fields)}
        extra = spec.write(entries.target, body, False) if spec.write is not None else None
        new_key = {name: _text(changes.get(name, value)) for name, value in key.items()}
        other = entries.find(new_key) if new_key != key else None
        if other is not None and entries.key_of(other) != key:
            raise AlreadyExists(spec.conflict or spec.keys[0].json)
        if changes or extra is not None:
            entries.check_writable()
            async with ctx.store.write():
                _write_changed(entries, found, key, changes)
                mine = entries.local().find(**{k: _text(v) for k, v in new_key.items()})
                if extra is not None and mine is not None:
                    extra(mine)
        updated = entries.find(new_key)
        if updated is None:
            raise NotFound(name=spec.plural)
        out = entries.render(updated, full=True)
        if new_key != key:
            href = f"{feature.path}/{spec.route}/{out['id']}"
            return json_response(request, out, status=STATUS_ID_CHANGED, resource=single, location=href)
        return json_response(request, out, resource=single)

    async def delete_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        try:
            entries, key = _decode(ctx, feature, spec, request.match_info["id"])
        except NotFound:
            if ctx.codec.decode(spec.purpose, request.match_info["id"]):
                return web.Response(status=204)  # the site is gone: nothing left to delete
            raise
        check_config_scope(entries.target, None, request)
        found = entries.find(key)
        if found is not None:
            entries.check_writable()
            async with ctx.store.write():
                local = entries.local()
                local.remove(local.find(**key) or found)
        return web.Response(status=204)

    slug = f"{feature.endpoint}_{spec.route}".replace("/", "_").replace("-", "_")
    for handler, verb in ((list_entries, "list"), (get_entry, "get"), (create_entry, "create"),
                          (update_entry, "update"), (delete_entry, "delete")):  # fmt: skip
        handler.__name__ = handler.__qualname__ = f"{verb}_{slug}"
    return EntryHandlers(list_entries, get_entry, create_entry, update_entry, delete_entry)


def _write_changed(entries: Entries, found: ConfigElement, key: dict[str, str], changes: dict[str, Any]) -> None:
    """Change a local entry in place; replace an inherited one with <remove> + <add> at this level."""
    local = entries.local()
    mine = local.find(**key)
    if mine is not None:
        for name, value in changes.items():
            _set(mine, name, value)
        return
    local.remove(found)
    new_key = {name: changes.get(name, value) for name, value in key.items()}
    element = local.add(new_key).ensure()
    for name, text in found.attributes().items():
        if name not in changes and name not in new_key:
            element.set(name, text)  # inherited text, already valid
    for name, value in changes.items():
        _set(local.find(**{k: _text(v) for k, v in new_key.items()}), name, value)  # type: ignore[arg-type]
    for child in found.element if found.element is not None else ():
        if isinstance(child.tag, str):
            element.append(etree.fromstring(etree.tostring(child)))
