"""A config-backed resource family as a declaration: URLs, media types, getters, id and lookup.

The CRUD handlers live in `mixins.py` (in the manner of python-gitlab's managers); a family such as
websites subclasses the mixins it serves and writes only what is truly its own: selection, validation
and how a change is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from agent.api.answer_cache import Stamp, answer_state
from agent.api.context import Ctx
from agent.api.http import FieldSelection, Getter, nested_json, render
from agent.api.model_cache import ModelCache, model_cache
from agent.api.templates import Template, dumps, encode, template
from agent.ids import Purpose
from agent.iisconfig import ConfigElement, ConfigStore
from agent.keys import HOST

T = TypeVar("T")


class ConfigResource(Generic[T]):
    """One family of items in applicationHost.config (an item is an element or a (site, ..., element) tuple)."""

    path: ClassVar[str]
    """The collection URL; an item's URL is `{path}/{id}`."""
    resource: ClassVar[str]
    """Media type name of one item, e.g. Microsoft.WebServer.WebSite."""
    list_resource: ClassVar[str]
    list_key: ClassVar[str]
    """Member of the list answer that holds the references."""
    ref_fields: ClassVar[tuple[str, ...]]
    getters: ClassVar[Mapping[str, Getter]]
    purpose: ClassVar[Purpose]
    id_parts: ClassVar[int] = 1
    """How many parts the id's plaintext has (site key; site key and path; ...)."""
    cache_sections: ClassVar[tuple[str, ...] | None] = None
    """The sections a model reads besides its own site or pool (agent.api.model_cache); None: never cached."""
    live: ClassVar[frozenset[str]] = frozenset()
    """Members computed on every request even from a cached model: runtime state, references to other items."""

    def item_id(self, ctx: Ctx, item: T) -> str:
        """The opaque id of an item."""
        raise NotImplementedError

    def find(self, ctx: Ctx, resource_id: str) -> T:
        """The item behind an id; NotFound when the id does not decode or the item is gone."""
        raise NotImplementedError

    def links(self, ctx: Ctx, item: T) -> dict[str, str]:
        """The `_links` of a full model."""
        raise NotImplementedError

    def _answer_state(self, request: web.Request, store: ConfigStore) -> Stamp | None:
        """The state whole answers are cached under (agent.api.answer_cache); None: this family is not cached."""
        if self.cache_sections is None:
            return None  # its models read more than the configuration document and the runtime statuses
        return answer_state(store, request.app[HOST])

    def check_id(self, ctx: Ctx, resource_id: str) -> None:
        """NotFound unless the id decodes (whether or not its item still exists)."""
        if self.id_parts == 1:
            ctx.codec.decode(self.purpose, resource_id)
        else:
            ctx.codec.decode_parts(self.purpose, resource_id, self.id_parts)

    def element(self, item: T) -> ConfigElement:
        """The configuration element an item stands for (the last one of a tuple)."""
        element = item[-1] if isinstance(item, tuple) else item
        if not isinstance(element, ConfigElement):
            raise TypeError(f"{type(self).__name__}: an item must end with its ConfigElement")
        return element

    def model(self, ctx: Ctx, item: T) -> dict[str, Any]:
        """The full model (or the `fields=` selection of it); a new dict the caller may change at the top."""
        return self._answer(ctx, item, self.getters.keys(), ref=False)

    def ref(self, ctx: Ctx, item: T) -> dict[str, Any]:
        """The reference form a list answers with (only the `self` link)."""
        return self._answer(ctx, item, self.ref_fields, ref=True)

    def nested(self, ctx: Ctx, item: T, selection: FieldSelection) -> dict[str, Any]:
        """The model a dotted `fields=` selects under a nested reference: those members, only the `self` link."""
        return render(ctx, item, self.getters, selection, self.ref_fields, self.links, hal=ctx.hal, ref_links_only=True)

    def model_json(self, ctx: Ctx, item: T) -> bytes:
        """`model` as the JSON body, from a cached template when the family does not override `model`."""
        if type(self).model is not ConfigResource.model:
            return dumps(self.model(ctx, item))
        return self._json(ctx, item, self.getters.keys(), ref=False)

    def refs_json(self, ctx: Ctx, items: Iterable[T]) -> list[bytes]:
        """`ref` of each item as JSON, from cached templates when the family does not override `ref`."""
        if type(self).ref is not ConfigResource.ref:
            return [dumps(self.ref(ctx, item)) for item in items]
        cache = model_cache(ctx.store)  # synced once for the whole list
        return [self._json(ctx, item, self.ref_fields, ref=True, cache=cache) for item in items]

    def _static(
        self, ctx: Ctx, item: T, default: Iterable[str], ref: bool, kind: str, cache: ModelCache | None = None
    ) -> Any | None:
        """The cached rendering of `kind` ("dict" or "json"), made on a miss; None when this item is not cached."""
        if self.cache_sections is None:
            return None
        elements = tuple(part.element for part in item) if isinstance(item, tuple) else (self.element(item).element,)
        if None in elements:
            return None
        key = (type(self), kind, ref, elements, ctx.hal, ctx.request.query.get("fields"))
        cache = cache or model_cache(ctx.store)
        static: Any = cache.get(key)
        if static is None:
            getters = {name: (_placeholder if name in self.live else get) for name, get in self.getters.items()}
            model = render(ctx, item, getters, ctx.fields, default, self.links, hal=ctx.hal, ref_links_only=ref)
            static = template(model, self.live) if kind == "json" else model
            cache.put(key, elements[0], self.cache_sections, static)
        return static

    def _answer(self, ctx: Ctx, item: T, default: Iterable[str], *, ref: bool) -> dict[str, Any]:
        """Render, or copy the cached rendering and fill in the live members."""
        static: dict[str, Any] | None = self._static(ctx, item, default, ref, "dict")
        if static is None:
            return render(ctx, item, self.getters, ctx.fields, default, self.links, hal=ctx.hal, ref_links_only=ref)
        out = static.copy()
        for name in self.live:
            if name in out:
                out[name] = self._live(ctx, item, name)
        return out

    def _json(self, ctx: Ctx, item: T, default: Iterable[str], *, ref: bool, cache: ModelCache | None = None) -> bytes:
        """The JSON of `_answer`: cached bytes around the live members, which alone are encoded per request."""
        static: Template | None = self._static(ctx, item, default, ref, "json", cache)
        if static is None:
            return dumps(self._answer(ctx, item, default, ref=ref))
        chunks, names = static
        if not names:
            return chunks[0]
        parts = [chunks[0]]
        for name, chunk in zip(names, chunks[1:], strict=True):
            parts.append(encode(self._live(ctx, item, name)))
            parts.append(chunk)
        return b"".join(parts)

    def _live(self, ctx: Ctx, item: T, name: str) -> Any:
        """One live member, narrowed by `fields=` like any other."""
        getter = self.getters[name]
        if ctx.fields.tree is None:
            return nested_json(getter(ctx, item), None)  # a nested reference (Nested) in its reference form
        return render(ctx, item, {name: getter}, ctx.fields, (name,), hal=False)[name]


def _placeholder(ctx: Ctx, item: Any) -> None:
    """Stands in for a live member in a cached model, keeping its place in the member order."""
    return None
