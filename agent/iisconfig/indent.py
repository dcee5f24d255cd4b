"""Whitespace-aware insert and remove: edits keep the file's pretty-printing (works on any node.Node)."""

from __future__ import annotations

from agent.iisconfig.node import Node


def _indent_of(element: Node) -> str:
    """The indentation string in front of `element`'s start tag ('' when unknown)."""
    previous = element.getprevious()
    parent = element.getparent()
    before = previous.tail if previous is not None else (parent.text if parent is not None else None)
    if before and "\n" in before:
        return before.rsplit("\n", 1)[1]
    return ""


def insert_child(parent: Node, index: int, child: Node) -> None:
    """Insert `child` at `index` keeping the surrounding pretty-print indentation intact."""
    indent = _indent_of(parent)
    unit = "  "
    children = list(parent)
    if children:
        unit = _indent_of(children[0])[len(indent) :] or unit
    inner = "\n" + indent + unit
    if not children:
        if parent.text and parent.text.strip():
            parent.append(child)
            return
        parent.text = inner
        child.tail = "\n" + indent
        parent.append(child)
        return
    if index >= len(children):
        last = children[-1]
        child.tail = last.tail
        last.tail = inner
        parent.append(child)
        return
    child.tail = inner
    parent.insert(index, child)


def remove_child(child: Node) -> None:
    """Remove `child`, giving its closing whitespace to the previous sibling when it was last."""
    parent = child.getparent()
    if parent is None:
        return
    previous = child.getprevious()
    if child.getnext() is None:
        if previous is not None:
            previous.tail = child.tail
        elif not (child.tail or "").strip():
            parent.text = None
            child.tail = None
    else:
        tail = child.tail
        if tail and tail.strip():
            # Keep meaningful text that followed the element.
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
    parent.remove(child)
