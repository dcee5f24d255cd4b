"""EntryCollection: IIS collection semantics (<add>/<remove>/<clear>, keys, inheritance-aware removal)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, Protocol, Self, TypeVar

from agent.iisconfig.document import Document
from agent.iisconfig.errors import ConfigError, ConfigValueError
from agent.iisconfig.indent import insert_child, remove_child
from agent.iisconfig.node import Node
from agent.iisconfig.schema_types import CollectionSchema, ElementSchema
from agent.iisconfig.values import format_value


class CollectionOwner(Protocol):
    """What a collection needs of the element holding it (ConfigElement), so the import runs one way only."""

    _doc: Document

    @property
    def schema(self) -> ElementSchema | None: ...

    @property
    def element(self) -> Node | None: ...

    def ensure(self) -> Node: ...

    def _check_writable(self) -> None: ...

    def _entry(self, element: Node, schema: ElementSchema) -> Self: ...


Owner = TypeVar("Owner", bound=CollectionOwner)

# Sections and elements the schema does not describe still get <add>/<remove>/<clear> semantics,
# keyed by each entry's first attribute.
GENERIC = CollectionSchema(ElementSchema("add"), keys=(), add="add")


def collection_schema(schema: ElementSchema | None) -> CollectionSchema:
    """The element's collection schema, or the generic add/remove/clear one."""
    if schema is not None and schema.collection is not None:
        return schema.collection
    return GENERIC


def entry_key(element: Node, schema: CollectionSchema) -> tuple[str, ...]:
    """Case-insensitive key of an <add> or <remove> element (missing key attributes read as their default)."""
    if not schema.keys:
        values = [str(v) for v in element.attrib.values()]
        return (values[0].lower(),) if values else ("",)
    key: list[str] = []
    for name in schema.keys:
        raw = element.get(name)
        if raw is None:
            attr = schema.item.attr(name)
            raw = attr.default if attr is not None and isinstance(attr.default, str) else ""
        key.append(raw.lower())
    return tuple(key)


def local_entries(element: Node, schema: CollectionSchema) -> list[Node]:
    """Entries in effect after applying this element's own directives in document order."""
    add, remove, clear = schema.add_tag, schema.remove, schema.clear
    entries: dict[tuple[str, ...], Node] = {}
    for child in element.iterchildren(add, remove, clear):
        tag = child.tag
        if tag == add:
            entries[entry_key(child, schema)] = child
        elif tag == remove:
            entries.pop(entry_key(child, schema), None)
        else:
            entries.clear()
    return list(entries.values())


def _is_location_level(element: Node) -> bool:
    """True when the element sits in a <location> tag for a site or deeper (not path "" or ".")."""
    for ancestor in element.iterancestors("location"):
        return (ancestor.get("path") or "").strip().strip("/") not in ("", ".")
    return False


class EntryCollection(Generic[Owner]):
    """The entries of one collection, with lookup by key and IIS-style add/remove/clear (entries are Owners)."""

    __slots__ = ("_owner", "_schema")

    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self._schema = collection_schema(owner.schema)

    @property
    def owner(self) -> Owner:
        """The element holding the collection."""
        return self._owner

    @property
    def schema(self) -> CollectionSchema:
        """The collection's schema (generic when unknown)."""
        return self._schema

    def _entries(self) -> tuple[list[Node], dict[tuple[str, ...], Node]]:
        """Effective entries plus a key index, cached until the document changes."""
        element = self._owner.element
        if element is None:
            return [], {}
        doc = self._owner._doc
        key = ("entries", element)
        cached: tuple[list[Node], dict[tuple[str, ...], Node]] | None = doc.cache.get(key)
        if cached is None:
            entries = local_entries(element, self._schema)
            cached = (entries, {entry_key(e, self._schema): e for e in entries})
            doc.cache[key] = cached
        return cached

    def _wrap(self, element: Node) -> Owner:
        """Wrap an entry; its parent is the owner so defaults elements (siteDefaults ...) can be found."""
        return self._owner._entry(element, self._schema.item)

    def items(self) -> list[Owner]:
        """Entries in effect, in order."""
        return [self._wrap(e) for e in self._entries()[0]]

    def __iter__(self) -> Iterator[Owner]:
        """Iterate over the entries in effect."""
        return iter(self.items())

    def __len__(self) -> int:
        """Number of entries in effect."""
        return len(self._entries()[0])

    def find(self, **key: Any) -> Owner | None:
        """The entry whose attributes match `key` case-insensitively, e.g. find(name="DefaultAppPool")."""
        wanted = {name: _text(value).lower() for name, value in key.items()}
        entries, index = self._entries()
        if self._schema.keys and set(wanted) == set(self._schema.keys):
            found = index.get(tuple(wanted[k] for k in self._schema.keys))
            return self._wrap(found) if found is not None else None
        for entry in entries:
            if all((entry.get(name) or "").lower() == value for name, value in wanted.items()):
                return self._wrap(entry)
        return None

    def add(self, attrs: dict[str, Any] | None = None, **kw: Any) -> Owner:
        """Append a validated entry after the existing ones; a duplicate key raises ConfigValueError."""
        self._owner._check_writable()
        values = {**(attrs or {}), **kw}
        item = self._schema.item
        texts: dict[str, str] = {}
        for name in values:
            schema = item.attr(name)
            texts[name] = format_value(schema, values[name]) if schema is not None else _text(values[name])
        for name in self._schema.keys:
            schema = item.attr(name)
            if name not in texts and schema is not None and schema.required:
                raise ConfigValueError(name, f"{name} is required")
        new = self._owner.ensure().makeelement(self._schema.add_tag, texts)
        if entry_key(new, self._schema) in self._entries()[1]:
            name = self._schema.keys[0] if self._schema.keys else next(iter(texts), "")
            raise ConfigValueError(name, f"an entry with {name}={texts.get(name, '')!r} already exists")
        self._insert(new)
        return self._wrap(new)

    def remove(self, item: Owner) -> None:
        """Delete a local entry, or write <remove key=.../> for one inherited from a parent level."""
        self._owner._check_writable()
        target = item.element
        owner = self._owner.element
        if target is not None and owner is not None and target.getparent() is owner:
            self._owner._doc.touch(target)  # before it leaves the tree: the journal records where it was
            remove_child(target)
            return
        if target is None:
            return
        attrs: dict[str, str] = {k: target.get(k, "") for k in self._schema.keys}
        if not self._schema.keys:
            attrs = {str(k): str(v) for k, v in target.attrib.items()}
        if not self._schema.keys and attrs:
            first = next(iter(attrs))
            attrs = {first: attrs[first]}
        self._insert(self._owner.ensure().makeelement(self._schema.remove, attrs))

    def clear(self) -> None:
        """Drop every entry; below server level also write <clear/> so inherited entries are dropped too."""
        self._owner._check_writable()
        element = self._owner.ensure()
        for child in list(element.iterchildren(self._schema.add_tag, self._schema.remove, self._schema.clear)):
            remove_child(child)
        if _is_location_level(element):
            insert_child(element, 0, element.makeelement(self._schema.clear))
        self._owner._doc.touch(element)

    def _insert(self, new: Node) -> None:
        """Place a directive after the last existing one, before the owner's other children."""
        element = self._owner.ensure()
        tags = self._schema.directive_tags()
        children = list(element)
        position = 0
        for index in range(len(children) - 1, -1, -1):
            if children[index].tag in tags:
                position = index + 1
                break
        insert_child(element, position, new)
        self._owner._doc.touch(new)


def _text(value: Any) -> str:
    """Attribute text for lookups and unknown attributes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise ConfigError("attribute values cannot be None")
    return str(value)
