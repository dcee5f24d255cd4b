"""A config-backed resource family as a declaration: URLs, media types, getters, id and lookup.

The CRUD handlers live in `mixins.py` (in the manner of python-gitlab's managers); a family such as
websites subclasses the mixins it serves and writes only what is truly its own: selection, validation
and how a change is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from agent.api.context import Ctx
from agent.api.http import FieldSelection, Getter, render
from agent.ids import Purpose
from agent.iisconfig import ConfigElement

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

    def item_id(self, ctx: Ctx, item: T) -> str:
        """The opaque id of an item."""
        raise NotImplementedError

    def find(self, ctx: Ctx, resource_id: str) -> T:
        """The item behind an id; NotFound when the id does not decode or the item is gone."""
        raise NotImplementedError

    def links(self, ctx: Ctx, item: T) -> dict[str, str]:
        """The `_links` of a full model."""
        raise NotImplementedError

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
        """The full model (or the `fields=` selection of it)."""
        return render(ctx, item, self.getters, ctx.fields, self.getters.keys(), self.links, hal=ctx.hal)

    def ref(self, ctx: Ctx, item: T) -> dict[str, Any]:
        """The reference form a list answers with (only the `self` link)."""
        fields = self.ref_fields
        return render(ctx, item, self.getters, ctx.fields, fields, self.links, hal=ctx.hal, ref_links_only=True)

    def nested(self, ctx: Ctx, item: T, selection: FieldSelection) -> dict[str, Any]:
        """The model a dotted `fields=` selects under a nested reference: those members, only the `self` link."""
        return render(ctx, item, self.getters, selection, self.ref_fields, self.links, hal=ctx.hal, ref_links_only=True)
