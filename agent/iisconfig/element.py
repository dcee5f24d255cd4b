"""ConfigElement: a typed, schema-aware view of one configuration element (possibly not yet in the file)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from agent.iisconfig.collection import EntryCollection, collection_schema
from agent.iisconfig.document import Document, element_children, first_child
from agent.iisconfig.errors import ConfigError
from agent.iisconfig.indent import insert_child, remove_child
from agent.iisconfig.node import Node
from agent.iisconfig.schema_types import ElementSchema
from agent.iisconfig.values import format_value, parse_value

# anchor(create) finds (or, when create is True, makes) the element of a virtual top-level view.
Anchor = Callable[[bool], Node | None]


class ConfigElement:
    """One element with typed attribute access, IIS defaults inheritance and lazy creation on first write."""

    __slots__ = ("_doc", "_el", "_schema", "_parent", "_tag", "_anchor", "_readonly")

    def __init__(
        self,
        doc: Document,
        element: Node | None,
        schema: ElementSchema | None,
        *,
        parent: ConfigElement | None = None,
        tag: str | None = None,
        anchor: Anchor | None = None,
        readonly: bool = False,
    ) -> None:
        self._doc = doc
        self._el = element
        self._schema = schema
        self._parent = parent
        self._tag = tag if tag is not None else (str(element.tag) if element is not None else "")
        self._anchor = anchor
        self._readonly = readonly

    def __repr__(self) -> str:
        """Debug form: tag, explicit attributes, and whether it exists."""
        return f"<ConfigElement {self._tag} {self.attributes()} exists={self.exists}>"

    @property
    def tag(self) -> str:
        """The element name."""
        return self._tag

    @property
    def schema(self) -> ElementSchema | None:
        """The element's schema, or None for elements the schema does not describe."""
        return self._schema

    @property
    def exists(self) -> bool:
        """True when the element is present in the document."""
        return self._resolve() is not None

    @property
    def readonly(self) -> bool:
        """True for merged (effective) views, which cannot be written."""
        return self._readonly

    @property
    def element(self) -> Node | None:
        """The underlying element (None while virtual); call store.mark_changed() after raw edits."""
        return self._resolve()

    @property
    def parent(self) -> ConfigElement | None:
        """The view this one was reached from (None for a section)."""
        return self._parent

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, attr: str) -> Any:
        """Typed value: explicit attribute, else the defaults element's (siteDefaults ...), else the schema default."""
        element = self._resolve()
        raw = element.get(attr) if element is not None else None
        if raw is None:
            for source in self._defaults_chain():
                raw = source.get(attr)
                if raw is not None:
                    break
        schema = self._schema.attr(attr) if self._schema is not None else None
        if schema is None:
            return raw
        if raw is None:
            return schema.default
        try:
            return parse_value(schema, raw)
        except ValueError:
            # A value IIS itself would reject; serve the default rather than fail every read of the section.
            return schema.default

    def get_raw(self, attr: str) -> str | None:
        """The attribute text exactly as written on this element, or None."""
        element = self._resolve()
        return element.get(attr) if element is not None else None

    def has(self, attr: str) -> bool:
        """True when the attribute is set explicitly on this element."""
        element = self._resolve()
        return element is not None and attr in element.attrib

    def attributes(self) -> dict[str, str]:
        """Explicit attributes in document order."""
        element = self._resolve()
        return {str(k): str(v) for k, v in element.attrib.items()} if element is not None else {}

    def child(self, name: str) -> ConfigElement:
        """The named child element; virtual (reads give defaults) when absent."""
        schema = self._schema.child(name) if self._schema is not None else None
        element = self._resolve()
        found = first_child(element, name) if element is not None else None
        return ConfigElement(self._doc, found, schema, parent=self, tag=name, readonly=self._readonly)

    def children(self) -> list[ConfigElement]:
        """Existing child elements that are not collection entries, in document order."""
        element = self._resolve()
        if element is None:
            return []
        directives = collection_schema(self._schema).directive_tags()
        return [self.child(str(child.tag)) for child in element_children(element) if child.tag not in directives]

    def collection(self, name: str | None = None) -> ConfigCollection:
        """The collection held by this element (name=None) or by its child `name`."""
        return EntryCollection(self if name is None else self.child(name))

    # -- writing ---------------------------------------------------------------------------------------

    def set(self, attr: str, value: Any) -> None:
        """Validate `value` against the schema and write its canonical IIS text (creating the element if needed)."""
        self._check_writable()
        schema = self._schema.attr(attr) if self._schema is not None else None
        text = format_value(schema, value) if schema is not None else _raw_text(value)
        element = self.ensure()
        if element.get(attr) != text:
            element.set(attr, text)
            self._doc.touch(element)

    def unset(self, attr: str) -> None:
        """Remove an explicit attribute so the inherited or default value applies again."""
        self._check_writable()
        element = self._resolve()
        if element is not None and attr in element.attrib:
            del element.attrib[attr]
            self._doc.touch(element)

    def remove(self) -> None:
        """Delete this element from the document."""
        self._check_writable()
        element = self._resolve()
        if element is None:
            return
        self._doc.touch(element)  # before it leaves the tree: the journal records where it was
        remove_child(element)
        self._el = None

    def move_to(self, position: int) -> None:
        """Place this entry at `position` among its siblings of the same tag (clamped to the last place).

        Rule priority is document order; moving through here keeps cached collection views in step.
        """
        self._check_writable()
        node = self._resolve()
        parent = node.getparent() if node is not None else None
        if node is None or parent is None:
            return
        siblings = [child for child in parent if child.tag == node.tag and child is not node]
        parent.remove(node)
        if position < len(siblings):
            siblings[position].addprevious(node)
        elif siblings:
            siblings[-1].addnext(node)
        else:
            parent.append(node)
        self._doc.touch()

    def ensure(self) -> Node:
        """Materialise a virtual element (and its missing ancestors); returns the element."""
        self._check_writable()
        element = self._resolve()
        if element is not None:
            return element
        if self._anchor is not None:
            created = self._anchor(True)
            if created is None:
                raise ConfigError(f"cannot create <{self._tag}> here")
            element = created
        elif self._parent is not None:
            parent = self._parent.ensure()
            element = parent.makeelement(self._tag)
            insert_child(parent, len(parent), element)
        else:
            raise ConfigError(f"<{self._tag}> has no place in the document")
        self._el = element
        self._doc.touch(element)
        return element

    # -- internals -------------------------------------------------------------------------------------

    def _resolve(self) -> Node | None:
        """The element, looking again for a virtual one in case another view created it."""
        element = self._el
        if element is not None:
            return element
        if self._anchor is not None:
            element = self._anchor(False)
        elif self._parent is not None:
            parent = self._parent._resolve()
            element = first_child(parent, self._tag) if parent is not None else None
        self._el = element
        return element

    def _defaults_chain(self) -> list[Node]:
        """Defaults elements this one inherits from, nearest first (e.g. site/limits -> siteDefaults/limits)."""
        path: list[str] = []
        node: ConfigElement | None = self
        while node is not None:
            schema = node._schema
            if schema is not None and schema.defaults:
                item = node._resolve()
                if item is None:
                    return []
                return _defaults_for(node._doc, item, schema.defaults, tuple(reversed(path)))
            path.append(node._tag)
            node = node._parent
        return []

    def _entry(self, element: Node, schema: ElementSchema) -> ConfigElement:
        """A collection entry held by this element (its parent, so defaults elements can be found)."""
        return type(self)(self._doc, element, schema, parent=self, readonly=self.readonly)

    def _check_writable(self) -> None:
        """Merged views are snapshots; writing to them would silently go nowhere."""
        if self._readonly:
            raise ConfigError("this is a read-only effective view; write to store.section(...) instead")


ConfigCollection: TypeAlias = EntryCollection[ConfigElement]
"""The collection type the rest of the agent sees: entries are ConfigElements."""


def _defaults_for(doc: Document, item: Node, defaults_tag: str, path: tuple[str, ...]) -> list[Node]:
    """Defaults elements named `defaults_tag` beside `item` or beside any ancestor (site level before server)."""
    found: list[Node] = []
    ancestor = item.getparent()
    while ancestor is not None and ancestor.tag not in ("location", "configuration"):
        source = _cached_child(doc, ancestor, defaults_tag)
        for step in path:
            if source is None:
                break
            source = first_child(source, step)
        if source is not None:
            found.append(source)
        ancestor = ancestor.getparent()
    return found


def _cached_child(doc: Document, parent: Node, tag: str) -> Node | None:
    """first_child, memoised per document state: <sites> may hold 10,000 <site>s before <siteDefaults>."""
    key = ("child", parent, tag)
    try:
        cached: Node | None = doc.cache[key]
    except KeyError:
        cached = doc.cache[key] = first_child(parent, tag)
    return cached


def _raw_text(value: Any) -> str:
    """Text for an attribute the schema does not know."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"cannot store a {type(value).__name__} in an attribute")
