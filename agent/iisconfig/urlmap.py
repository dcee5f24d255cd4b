"""URL → application → virtual directory, as IIS maps them (the one implementation of the rule).

An application serves the URL paths under its own path and a virtual directory the paths under its own
inside its application. Prefixes match whole segments, case-insensitively (`/a/bc` is under `/a`, not
`/a/b`), and where several match the longest wins. The rule is generic over how sites are represented:
the embedded host maps its model (embedded/urlmap.py), the files API maps configuration elements
(files/webtree.py); `path_of` reads an application's or virtual directory's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Mapped(Generic[A, V]):
    """Where a URL path lands: its application, its virtual directory and the path below that directory."""

    app: A
    vdir: V
    rest: str
    """The rest of the path below the virtual directory, without a leading slash ("" for the directory)."""


def covers(prefix: str, path: str) -> bool:
    """Whether `path` is `prefix` or below it, on a segment boundary (case-insensitive; `/` covers all)."""
    return _covers(prefix.rstrip("/").lower(), path.lower())


def _covers(stem: str, lower: str) -> bool:
    # Both lower-case, stem without a trailing slash; no concatenation: this runs for every request.
    return lower.startswith(stem) and (len(lower) == len(stem) or lower[len(stem)] == "/")


def longest(items: Iterable[T], path: str, path_of: Callable[[T], str]) -> T | None:
    """The item whose path covers `path` with the most characters; the first one on a tie."""
    lower = path.lower()
    best, size = None, -1
    for item in items:
        stem = path_of(item).rstrip("/").lower()
        if len(stem) > size and _covers(stem, lower):
            best, size = item, len(stem)
    return best


def below(prefix: str, path: str) -> str:
    """`path` relative to a `prefix` that covers it, rooted: `/` when nothing is left."""
    return path[len(prefix.rstrip("/")) :] or "/"


def within(app_path: str, vdirs: Iterable[V], path: str, path_of: Callable[[V], str]) -> tuple[V, str] | None:
    """The virtual directory of an application serving `path`, and the rest below it (no leading slash)."""
    inner = below(app_path, path)
    vdir = longest(vdirs, inner, path_of)
    return (vdir, below(path_of(vdir), inner).lstrip("/")) if vdir is not None else None


def resolve(apps: Iterable[A], path: str, path_of: Callable[[A | V], str],
            vdirs_of: Callable[[A], Iterable[V]]) -> Mapped[A, V] | None:  # fmt: skip
    """The application and virtual directory serving `path`; None when no application or vdir covers it."""
    app = longest(apps, path, path_of)
    if app is None:
        return None
    found = within(path_of(app), vdirs_of(app), path, path_of)
    return Mapped(app, found[0], found[1]) if found is not None else None
