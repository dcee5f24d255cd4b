"""A small element tree on the stdlib's expat, for processes that read applicationHost.config but never save it.

Workers read the configuration through the agent's own code (locations, merging, collections: node.Node) but
must not load lxml, ~4.5 MiB of every worker's resident memory. LiteElement offers the part of lxml's element
API that code calls. It keeps tags and attributes only: comments, processing instructions and text carry no
configuration, and nothing here serialises. Tags in a namespace read as lxml spells them, `{uri}name`.

The parser is hardened like xmlutil.make_parser: a DOCTYPE is refused outright, so there are no entity
definitions to expand and nothing external to fetch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, overload
from xml.parsers import expat

from agent.iisconfig.errors import ConfigError

T = TypeVar("T")


class LiteElement:
    """One element: tag, attributes in document order, children; lxml's method names and semantics."""

    __slots__ = ("tag", "attrib", "text", "tail", "_children", "_parent")

    def __init__(self, tag: str, attrib: dict[str, str] | None = None) -> None:
        self.tag = tag
        self.attrib: dict[str, str] = attrib if attrib is not None else {}
        self.text: str | None = None  # never read from the file: see the module docstring
        self.tail: str | None = None
        self._children: list[LiteElement] = []
        self._parent: LiteElement | None = None

    def __repr__(self) -> str:
        """Debug form, like lxml's."""
        return f"<LiteElement {self.tag} at {id(self):#x}>"

    # -- attributes ------------------------------------------------------------------------------------

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, default: T, /) -> str | T: ...

    def get(self, key: str, default: Any = None, /) -> Any:
        """The attribute's text, or `default`."""
        return self.attrib.get(key, default)

    def set(self, key: str, value: str, /) -> None:
        """Set an attribute."""
        self.attrib[key] = value

    # -- navigation ------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[LiteElement]:
        """The children (a snapshot: removing the current child while iterating is safe, as in lxml)."""
        return iter(tuple(self._children))

    def __len__(self) -> int:
        """The number of children."""
        return len(self._children)

    def iterchildren(self, tag: str | None = None, *tags: str) -> Iterator[LiteElement]:
        """Children, optionally only those with one of the tags ("*": any element, as in lxml)."""
        wanted = _tag_set(tag, tags)
        children = tuple(self._children)
        return iter(children) if wanted is None else (c for c in children if c.tag in wanted)

    def iterancestors(self, tag: str | None = None, *tags: str) -> Iterator[LiteElement]:
        """Parent, grandparent, ... optionally only those with one of the tags."""
        wanted = _tag_set(tag, tags)
        node = self._parent
        while node is not None:
            if wanted is None or node.tag in wanted:
                yield node
            node = node._parent

    def getparent(self) -> LiteElement | None:
        """The parent element (None for the root and for detached elements)."""
        return self._parent

    def getprevious(self) -> LiteElement | None:
        """The previous sibling, or None."""
        return self._sibling(-1)

    def getnext(self) -> LiteElement | None:
        """The next sibling, or None."""
        return self._sibling(1)

    # -- building --------------------------------------------------------------------------------------

    def makeelement(self, tag: str, attrib: dict[str, str] | None = None, /) -> LiteElement:
        """A new detached element of the same kind."""
        return LiteElement(tag, dict(attrib) if attrib else None)

    def append(self, element: LiteElement, /) -> None:
        """Add `element` as the last child (moving it from its old parent, as lxml does)."""
        self.insert(len(self._children), element)

    def insert(self, index: int, element: LiteElement, /) -> None:
        """Add `element` at `index` among the children (moving it from its old parent)."""
        if element._parent is not None:
            element._parent.remove(element)
        element._parent = self
        self._children.insert(index, element)

    def remove(self, element: LiteElement, /) -> None:
        """Detach a child (ValueError when it is not one, as in lxml)."""
        self._children.remove(element)  # no __eq__ on elements: list.remove compares identity
        element._parent = None

    def replace(self, old: LiteElement, new: LiteElement, /) -> None:
        """Put `new` where the child `old` is."""
        index = self._children.index(old)
        self.remove(old)
        self.insert(index, new)

    def addprevious(self, element: LiteElement, /) -> None:
        """Insert `element` as the sibling before this one."""
        self._place_beside(element, 0)

    def addnext(self, element: LiteElement, /) -> None:
        """Insert `element` as the sibling after this one."""
        self._place_beside(element, 1)

    def __deepcopy__(self, memo: dict[int, Any]) -> LiteElement:
        """A detached copy of the subtree (lxml's deepcopy semantics: the copy has no parent)."""
        copy = LiteElement(self.tag, dict(self.attrib))
        copy.text, copy.tail = self.text, self.tail
        for child in self._children:
            copy.append(child.__deepcopy__(memo))
        return copy

    # -- internals -------------------------------------------------------------------------------------

    def _sibling(self, step: int) -> LiteElement | None:
        parent = self._parent
        if parent is None:
            return None
        index = parent._children.index(self) + step
        return parent._children[index] if 0 <= index < len(parent._children) else None

    def _place_beside(self, element: LiteElement, offset: int) -> None:
        parent = self._parent
        if parent is None:
            raise TypeError("a detached element has no siblings")
        if element._parent is not None:
            element._parent.remove(element)
        parent.insert(parent._children.index(self) + offset, element)


def _tag_set(tag: str | None, tags: tuple[str, ...]) -> frozenset[str] | None:
    """The tags a filter accepts, or None for all elements."""
    names = frozenset((tag, *tags) if tag is not None else tags)
    return None if not names or "*" in names else names


def parse(data: bytes) -> LiteElement:
    """Parse configuration bytes into a LiteElement tree (ConfigError when not well-formed or when it has a DTD)."""
    builder = _Builder()
    # With namespace processing expat reports `uri}name`; builder.start prefixes "{": lxml's `{uri}name`.
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise ConfigError(f"applicationHost.config is not well-formed XML: {err}") from err
    if builder.root is None:
        raise ConfigError("applicationHost.config has no root element")
    return builder.root


class _Builder:
    """expat callbacks that assemble the tree."""

    __slots__ = ("root", "stack")

    def __init__(self) -> None:
        self.root: LiteElement | None = None
        self.stack: list[LiteElement] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if "}" in name:
            name = "{" + name
        if any("}" in key for key in attrs):
            attrs = {("{" + key if "}" in key else key): value for key, value in attrs.items()}
        element = LiteElement(name, attrs)
        stack = self.stack
        if stack:
            parent = stack[-1]
            element._parent = parent
            parent._children.append(element)
        else:
            self.root = element
        stack.append(element)

    def end(self, _name: str) -> None:
        self.stack.pop()


def _refuse_doctype(name: str, _system_id: str | None, _public_id: str | None, _internal: bool) -> None:
    raise ConfigError(f"applicationHost.config must not have a DOCTYPE (found <!DOCTYPE {name}>)")


def _refuse_entity(name: str, *_: object) -> None:
    raise ConfigError(f"applicationHost.config must not declare entities (found {name})")


def _refuse_external(*_: object) -> int:
    raise ConfigError("applicationHost.config must not reference external entities")
