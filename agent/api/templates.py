"""JSON bodies as cached byte chunks around the members that must be computed on every request.

A cached model is serialised once with a marker in place of each live member (status, references to
other items); the bytes are split at the markers, and a request only encodes the live values and joins.
The result is byte for byte what `json.dumps(model, separators=(",", ":"), ensure_ascii=False)` gives,
the encoding every agent answer uses (agent.api.http.json_response).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from typing import Any

Template = tuple[tuple[bytes, ...], tuple[str, ...]]
"""(chunks, live member names): the body is chunks[0] + value(names[0]) + chunks[1] + ..."""

_MARK = "\x00live\x00"
"""Cannot come out of a getter: a NUL is always escaped in JSON, so its encoding never occurs in real text."""
_ENCODED: dict[str, bytes] = {}


def dumps(body: Any) -> bytes:
    """The agent's JSON encoding."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode(value: Any) -> bytes:
    """One live value (statuses repeat, so their encoding is memoised)."""
    if isinstance(value, str) and len(value) <= 32:
        cached = _ENCODED.get(value)
        if cached is None and len(_ENCODED) < 256:
            cached = _ENCODED[value] = dumps(value)
        return cached if cached is not None else dumps(value)
    return dumps(value)


def template(model: Mapping[str, Any], live: Set[str]) -> Template:
    """Split the encoded `model` around its top-level live members."""
    names = tuple(name for name in model if name in live)
    marked = {name: (_MARK if name in live else value) for name, value in model.items()}
    chunks = dumps(marked).split(dumps(_MARK))
    if len(chunks) != len(names) + 1:
        raise ValueError("a live marker appeared where it should not")
    return tuple(chunks), names
