"""litexml: the expat element tree workers read the configuration with, checked against lxml's behaviour."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from agent.iisconfig.errors import ConfigError
from agent.iisconfig.litexml import LiteElement, parse
from agent.iisconfig.xmlutil import parse as lxml_parse

DOC = b"""\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>
<!-- before -->
<configuration>
  <a x="1" y="&lt;two&gt; &amp; &#233;" z="line&#10;break"><!-- inside --><b/><?pi data?><c k="v">text<d/>tail</c></a>
  <n:e xmlns:n="urn:t" n:q="1" plain="2"><n:f/></n:e>
  <g xmlns="urn:default"><h/></g>
</configuration>
<!-- after -->
"""


def _shape(element: Any) -> tuple[Any, ...]:
    """Tag, attributes and child shapes, skipping comments and processing instructions."""
    children = [c for c in element.iterchildren("*")]
    return (element.tag, dict(element.attrib), [_shape(c) for c in children])


def test_it_reads_tags_attributes_and_namespaces_as_lxml_does() -> None:
    root, _ = lxml_parse(DOC)
    assert _shape(parse(DOC)) == _shape(root)
    assert _shape(parse(DOC))[2][1] == ("{urn:t}e", {"{urn:t}q": "1", "plain": "2"}, [("{urn:t}f", {}, [])])


def test_comments_instructions_and_text_are_not_kept() -> None:
    a = next(parse(DOC).iterchildren("a"))
    assert [c.tag for c in a] == ["b", "c"]
    assert a.text is None and next(a.iterchildren("c")).text is None


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE c [<!ENTITY x "boom">]><c a="&x;"/>',
        b'<!DOCTYPE c [<!ENTITY a "1"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><c v="&b;"/>',
        b'<!DOCTYPE c SYSTEM "http://127.0.0.1:9/evil.dtd"><c/>',
        b'<!DOCTYPE c [<!ENTITY e SYSTEM "file:///etc/passwd">]><c>&e;</c>',
        b"<!DOCTYPE c><c/>",
    ],
)
def test_a_dtd_is_refused(data: bytes) -> None:
    with pytest.raises(ConfigError, match="DOCTYPE"):
        parse(data)


@pytest.mark.parametrize("data", [b"", b"<a>", b"<a></b>", b"<a x='1' x='2'/>", b"<a>&undefined;</a>", b"<a/><b/>"])
def test_malformed_input_is_a_config_error(data: bytes) -> None:
    with pytest.raises(ConfigError, match="not well-formed"):
        parse(data)


def test_filters_and_navigation() -> None:
    root = parse(b"<r><a/><b/><a k='1'/><c><a/></c></r>")
    c = next(root.iterchildren("c"))
    inner = next(c.iterchildren())
    assert [e.tag for e in root.iterchildren("a", "c")] == ["a", "a", "c"]
    assert [e.tag for e in root.iterchildren(tag="b")] == ["b"]
    assert [e.tag for e in inner.iterancestors()] == ["c", "r"]
    assert [e.tag for e in inner.iterancestors("r")] == ["r"]
    assert inner.getparent() is c and root.getparent() is None
    assert c.getprevious() is not None and c.getprevious().get("k") == "1"  # type: ignore[union-attr]
    assert c.getnext() is None
    assert root.get("missing") is None and root.get("missing", "x") == "x"


def _kid(element: Any, index: int) -> Any:
    """The index-th child (litexml has no indexing: the configuration code never needs it)."""
    return list(element)[index]


# The same edits on an lxml tree and a litexml tree must leave the same shapes (write-path helpers use them).
EDITS: list[tuple[str, Callable[[Any], None]]] = [
    ("append moves an attached element", lambda r: r.append(_kid(r, 0))),
    ("insert", lambda r: r.insert(1, r.makeelement("new", {"k": "v"}))),
    ("remove while iterating", lambda r: [r.remove(c) for c in r.iterchildren("a")]),
    ("replace", lambda r: r.replace(_kid(r, 1), r.makeelement("swap"))),
    ("addprevious", lambda r: _kid(r, 2).addprevious(r.makeelement("before"))),
    ("addnext", lambda r: _kid(r, 0).addnext(r.makeelement("after"))),
    ("deepcopy is detached", lambda r: r.append(copy.deepcopy(_kid(r, 3)))),
    ("set", lambda r: _kid(r, 0).set("k", "changed")),
    ("del attribute", lambda r: _kid(r, 2).attrib.__delitem__("k")),
]


@pytest.mark.parametrize("edit", [e for _, e in EDITS], ids=[n for n, _ in EDITS])
def test_edits_behave_like_lxml(edit: Callable[[Any], None]) -> None:
    data = b"<r><a/><b/><a k='1'/><c><a/><d x='1'/></c></r>"
    full = etree.fromstring(data)
    lite = parse(data)
    edit(full)
    edit(lite)
    assert _shape(lite) == _shape(full)
    assert all(child.getparent() is lite for child in lite)


def test_deepcopy_copies_the_subtree_without_its_parent() -> None:
    root = parse(b"<r><c k='1'><a/></c></r>")
    original = next(root.iterchildren())
    copied = copy.deepcopy(original)
    assert isinstance(copied, LiteElement) and copied.getparent() is None
    assert _shape(copied) == _shape(original) and copied is not original
    next(copied.iterchildren()).set("k", "2")
    assert next(original.iterchildren()).get("k") is None


def test_remove_of_a_stranger_raises_like_lxml() -> None:
    root = parse(b"<r><a/></r>")
    with pytest.raises(ValueError):
        root.remove(root.makeelement("x"))


def test_the_agent_refuses_a_doctype_as_workers_do() -> None:
    data = b'<!DOCTYPE configuration [<!ENTITY x "y">]><configuration/>'
    with pytest.raises(ConfigError, match="DOCTYPE"):
        lxml_parse(data)
    with pytest.raises(ConfigError, match="DOCTYPE"):
        parse(data)
