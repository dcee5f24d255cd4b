"""Generic child collections of a feature (`/entries`, `/files`, `/mime-maps` ...): list, get, add, patch, delete.

Reads use the effective collection at the feature's path; writes go to the feature's level, where removing or
changing an inherited entry writes `<remove>` (+ `<add>`), as IIS does. A split list (agent.api.features.placement)
spreads one API collection over two configuration collections; PATCH of its boolean member moves an entry.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.api import mapping
from agent.api.context import Ctx, context
from agent.api.features.placement import Slot
from agent.api.features.spec import EntrySpec, FeatureSpec, holder_of
from agent.api.features.target import Target, check_config_scope, check_scope_allowed, from_id, require_modules
from agent.api.http import STATUS_ID_CHANGED, json_response, list_response, read_json
from agent.api.mapping import Bool
from agent.api.refs import reference_id
from agent.api.routing import Handler
from agent.iisconfig import ConfigCollection, ConfigElement
from agent.iisconfig.document import element_children
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

    def effective(self, slot: Slot) -> ConfigCollection:
        """The merged collection at the feature's path."""
        return holder_of(self.target.effective(self.spec.section or None), slot.holder).collection()

    def local(self, slot: Slot) -> ConfigCollection:
        """The writable collection at the feature's level."""
        return holder_of(self.target.local(self.spec.section or None), slot.holder).collection()

    def check_writable(self) -> None:
        """403 when the feature, or the section holding this list, may not be configured at this level."""
        self.target.check_writable()
        if self.spec.section and self.target.is_locked(self.spec.section):
            raise Locked(name=self.spec.section)

    def items(self) -> list[tuple[Slot, ConfigElement]]:
        """Every effective entry, collection by collection."""
        return [(slot, entry) for slot in self.spec.slots for entry in self.effective(slot)]

    def key_of(self, slot: Slot, entry: ConfigElement) -> dict[str, str]:
        """Key attribute -> configuration text of an entry."""
        return {attr.config: _text(entry.get(slot.attr(attr.config)) or "") for attr in self.spec.keys}

    def slot_of(self, body: dict[str, Any], default: Slot | None = None) -> Slot:
        """The collection a body's boolean member selects (split lists); `default` when it is absent."""
        split, slots = self.spec.split, self.spec.slots
        if split is None or (default is not None and body.get(split.member) is None):
            return default or slots[0]
        return slots[1] if Bool().from_json(body.get(split.member, False), split.member) else slots[0]

    def entry_id(self, key: dict[str, str]) -> str:
        """Key values, path and site id, encrypted with the entry purpose."""
        keys = [key[attr.config] for attr in self.spec.keys]
        where = [self.target.path, self.target.site_key]
        parts = [*where, *keys] if self.spec.key_last else [*keys, *where]
        return self.target.ctx.codec.encode(self.spec.purpose, "\n".join(parts))

    def href(self, key: dict[str, str]) -> str:
        """URL of an entry."""
        return f"{self.target.spec.path}/{self.spec.route}/{self.entry_id(key)}"

    def render(self, slot: Slot, entry: ConfigElement, *, full: bool) -> dict[str, Any]:
        """An entry as JSON (list items carry the ref members only, unless fields= asks for more)."""
        key = self.key_of(slot, entry)
        values = mapping.read(entry, slot.fields(self.spec.all_fields))
        values["id"] = self.entry_id(key)
        values.update(slot.members)
        extra = self.spec.read(self.target, entry) if self.spec.read is not None else {}
        values.update(extra)
        if full:
            values[self.target.spec.parent_member] = self.target.ref()
        ctx = self.target.ctx
        parent = self.target.spec.parent_member
        default = [*(a.json.split(".")[0] for a in self.spec.all_fields), *extra, *slot.members, "id", parent] \
            if full else [self.spec.keys[0].json.split(".")[0], "id", *self.spec.ref_fields]  # fmt: skip
        names = ctx.fields.names(values, default)
        out = {name: values[name] for name in names}
        if ctx.hal:
            out["_links"] = {"self": {"href": self.href(key)}}
        return out

    def find(self, key: dict[str, str], slot: Slot | None = None) -> tuple[Slot, ConfigElement] | None:
        """The effective entry with this key (in one collection when `slot` is given)."""
        for each in (slot,) if slot is not None else self.spec.slots:
            found = self.effective(each).find(**each.key(key))
            if found is not None:
                return each, found
        return None


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
        items = [entries.render(slot, e, full=False) for slot, e in entries.items()]
        return list_response(request, spec.plural, items, resource=single + "s", count=spec.count)

    async def get_entry(request: web.Request) -> web.StreamResponse:
        ctx = context(request)
        require_modules(ctx, feature)
        entries, key = _decode(ctx, feature, spec, request.match_info["id"])
        found = entries.find(key)
        if found is None:
            raise NotFound(name=spec.plural)
        return json_response(request, entries.render(*found, full=True), resource=single)

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
        slot = entries.slot_of(body)
        key = {attr.config: _text(attrs[attr.config]) for attr in spec.keys}
        # a split list's duplicate is looked for in the target list only, unless the row says across both
        if entries.find(key, None if spec.split is None or spec.split.across else slot) is not None:
            raise AlreadyExists(spec.conflict or spec.keys[0].json)
        entries.check_writable()
        async with ctx.store.write():
            local = entries.local(slot)
            added = local.add({slot.attr(k): v for k, v in attrs.items() if v != "" and "/" not in k})
            for name, value in attrs.items():
                if "/" in name:
                    _set(added, name, value)
            if spec.first:
                _insert_first(local, added)
            if extra is not None:
                extra(added)
        body_out = entries.render(*(entries.find(key, slot) or (slot, added)), full=True)
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
        for name in spec.required:
            if body.get(name) == "":
                raise InvalidParameter(name)  # a required member cannot be emptied either
        changes = {attr.config: value for attr, value in mapping.parse(body, spec.all_fields)}
        extra = spec.write(entries.target, body, False) if spec.write is not None else None
        slot = entries.slot_of(body, found[0])
        new_key = {name: _text(changes.get(name, value)) for name, value in key.items()}
        other = entries.find(new_key) if new_key != key else None
        if other is not None and entries.key_of(*other) != key:
            raise AlreadyExists(spec.conflict or spec.keys[0].json)
        if changes or extra is not None or slot != found[0]:
            entries.check_writable()
            async with ctx.store.write():
                _write_changed(entries, found, slot, key, changes)
                mine = entries.local(slot).find(**slot.key(new_key))
                if extra is not None and mine is not None:
                    extra(mine)
        updated = entries.find(new_key, slot)
        if updated is None:
            raise NotFound(name=spec.plural)
        out = entries.render(*updated, full=True)
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
                _drop(entries, *found, key)
        return web.Response(status=204)

    slug = f"{feature.endpoint}_{spec.route}".replace("/", "_").replace("-", "_")
    for handler, verb in ((list_entries, "list"), (get_entry, "get"), (create_entry, "create"),
                          (update_entry, "update"), (delete_entry, "delete")):  # fmt: skip
        handler.__name__ = handler.__qualname__ = f"{verb}_{slug}"
    return EntryHandlers(list_entries, get_entry, create_entry, update_entry, delete_entry)


def _drop(entries: Entries, slot: Slot, found: ConfigElement, key: dict[str, str]) -> None:
    """Remove an entry at the feature's level (a <remove> when it is inherited)."""
    local = entries.local(slot)
    local.remove(local.find(**slot.key(key)) or found)


def _write_changed(
    entries: Entries, found: tuple[Slot, ConfigElement], slot: Slot, key: dict[str, str], changes: dict[str, Any]
) -> None:
    """Change a local entry in place; replace an inherited or moved one with <remove> + <add> at this level."""
    old_slot, old = found
    local = entries.local(slot)
    mine = local.find(**slot.key(key)) if slot == old_slot else None
    if mine is not None:
        for name, value in changes.items():
            _set(mine, slot.attr(name), value)
        return
    _drop(entries, old_slot, old, key)
    new_key = {name: changes.get(name, value) for name, value in key.items()}
    added = local.add(slot.key(new_key))
    element = added.ensure()
    keyed = {old_slot.attr(name) for name in key}
    for name, text in old.attributes().items():
        if name not in changes and name not in keyed:
            element.set(name, text)  # inherited text, already valid
    for name, value in changes.items():
        if name not in new_key:
            _set(added, name, value)
    for child in element_children(old.element) if old.element is not None else ():
        copied = copy.deepcopy(child)
        copied.tail = None  # the copy goes last; its old place's indentation does not come along
        element.append(copied)
