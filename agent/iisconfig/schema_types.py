"""Declarative schema records: attributes, elements and collections with their IIS defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.iisconfig.timespan import parse_timespan

AttrType = Literal["bool", "uint", "int", "int64", "timeSpan", "enum", "flags", "string"]


@dataclass(frozen=True, slots=True)
class AttrSchema:
    """One attribute: IIS name, type, default and validation rules (timeSpan min/max are in seconds)."""

    name: str
    type: AttrType = "string"
    default: Any = None
    min: int | None = None
    max: int | None = None
    enum: tuple[str, ...] | dict[str, int] = ()
    required: bool = False

    def enum_items(self) -> tuple[tuple[str, int], ...]:
        """(name, numeric value) pairs; a plain tuple numbers enums 0.. and flags 1, 2, 4 ..."""
        if isinstance(self.enum, dict):
            return tuple(self.enum.items())
        if self.type == "flags":
            return tuple((name, 1 << i) for i, name in enumerate(self.enum))
        return tuple((name, i) for i, name in enumerate(self.enum))


@dataclass(frozen=True, slots=True)
class CollectionSchema:
    """A collection: directive element names, key attributes and the schema of one entry."""

    item: ElementSchema
    keys: tuple[str, ...] = ("name",)
    add: str = ""
    remove: str = "remove"
    clear: str = "clear"
    merge_append: bool = True

    @property
    def add_tag(self) -> str:
        """Element name of an entry (`add` unless the schema says `site`, `binding`, `mimeMap` ...)."""
        return self.add or self.item.name

    def directive_tags(self) -> frozenset[str]:
        """Element names that belong to the collection rather than being ordinary children."""
        return frozenset((self.add_tag, self.remove, self.clear))


@dataclass(frozen=True, slots=True)
class ElementSchema:
    """An element: its attributes, child elements, optional collection and defaults element."""

    name: str
    attrs: tuple[AttrSchema, ...] = ()
    children: tuple[ElementSchema, ...] = ()
    collection: CollectionSchema | None = None
    # Name of the sibling element (next to the collection entries) that supplies inherited defaults,
    # e.g. "siteDefaults" for <site>, "applicationPoolDefaults" for an app pool <add>.
    defaults: str | None = None
    _attr_index: dict[str, AttrSchema] = field(init=False, repr=False, compare=False)
    _child_index: dict[str, ElementSchema] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Build lookup tables once; the records are immutable afterwards."""
        object.__setattr__(self, "_attr_index", {a.name: a for a in self.attrs})
        object.__setattr__(self, "_child_index", {c.name: c for c in self.children})

    def attr(self, name: str) -> AttrSchema | None:
        """The schema of attribute `name`, or None when the schema does not know it."""
        return self._attr_index.get(name)

    def child(self, name: str) -> ElementSchema | None:
        """The schema of child element `name`, or None."""
        return self._child_index.get(name)

    def with_name(self, name: str, *, defaults: str | None = None) -> ElementSchema:
        """A copy under another element name (e.g. applicationPoolDefaults shaped like a pool)."""
        return ElementSchema(name, self.attrs, self.children, self.collection, defaults)


# Short constructors keep the schema tables readable: one attribute per line.


def string(name: str, default: str = "", *, required: bool = False) -> AttrSchema:
    """A string attribute."""
    return AttrSchema(name, "string", default, required=required)


def boolean(name: str, default: bool) -> AttrSchema:
    """A bool attribute (written "true"/"false")."""
    return AttrSchema(name, "bool", default)


def uint(name: str, default: int = 0, lo: int = 0, hi: int = 4294967295, *, required: bool = False) -> AttrSchema:
    """An unsigned 32-bit attribute with an optional narrower range."""
    return AttrSchema(name, "uint", default, min=lo, max=hi, required=required)


def int64(name: str, default: int, lo: int = 0, hi: int = 2**63 - 1) -> AttrSchema:
    """A 64-bit integer attribute."""
    return AttrSchema(name, "int64", default, min=lo, max=hi)


def timespan(name: str, default: str, lo: int | None = None, hi: int | None = None) -> AttrSchema:
    """A timeSpan attribute; the default is IIS text ("hh:mm:ss" or "d.hh:mm:ss"), min/max in seconds."""
    return AttrSchema(name, "timeSpan", parse_timespan(default), min=lo, max=hi)


def enum(name: str, values: dict[str, int] | tuple[str, ...], default: str) -> AttrSchema:
    """An enum attribute; `default` is the canonical name."""
    return AttrSchema(name, "enum", default, enum=values)


def flags(name: str, values: dict[str, int] | tuple[str, ...], default: str) -> AttrSchema:
    """A flags attribute; `default` is the canonical comma-separated names."""
    return AttrSchema(name, "flags", default, enum=values)


def keyed(keys: tuple[str, ...], *attrs: AttrSchema, add: str = "add", merge_append: bool = True) -> CollectionSchema:
    """A collection whose entries are `<add>`-like elements carrying only attributes."""
    return CollectionSchema(ElementSchema(add, attrs), keys=keys, add=add, merge_append=merge_append)


def listing(name: str, collection: CollectionSchema, *attrs: AttrSchema) -> ElementSchema:
    """A child element that holds a collection (e.g. <files>, <customHeaders>)."""
    return ElementSchema(name, attrs, collection=collection)
