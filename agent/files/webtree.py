"""The virtual file tree of a site: which application and virtual directory serve a virtual path.

Rules as upstream: the owning application is the one whose path shares the most leading segments with the
virtual path (segment-wise, case-insensitive; `/a/bc` belongs to `/a`, not `/a/b`), then the same for its
virtual directories on the remaining path; the physical path is that vdir's physical path plus the rest.
Elements are anything with `get(name)` and `collection()`, as agent.iisconfig's ConfigElement has.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.paths import expand_path


class Element(Protocol):
    """The slice of a configuration element this module reads."""

    def get(self, name: str) -> Any:
        """An attribute value."""
        ...

    def collection(self) -> Iterable[Any]:
        """The child elements of its default collection."""
        ...


@dataclass(frozen=True, slots=True)
class Vdir:
    """A virtual directory with the application that holds it."""

    app: Any
    vdir: Any

    @property
    def path(self) -> str:
        """The full virtual path: app path + vdir path."""
        joined = _path(self.app).rstrip("/") + _path(self.vdir).rstrip("/")
        return joined or "/"

    @property
    def kind(self) -> str:
        """`application` for an application's root directory, else `vdir`."""
        return "application" if _path(self.vdir) == "/" else "vdir"

    @property
    def physical_path(self) -> str:
        """The vdir's physical path, variables expanded."""
        return expand_path(str(self.vdir.get("physicalPath") or ""))


def _path(element: Any) -> str:
    return str(element.get("path") or "/")


def normalize(path: str) -> str:
    """A rooted virtual path without `.`/`..` segments, doubled or trailing slashes; ValueError if unrooted."""
    if not path.startswith("/"):
        raise ValueError(path)
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    return cleaned if cleaned != "." else "/"


def prefix_segments(prefix: str, path: str) -> int:
    """How many leading segments `prefix` shares with `path` when it is a whole-segment prefix, else -1."""
    prefix_parts = prefix.rstrip("/").split("/")
    path_parts = path.rstrip("/").split("/")
    if len(prefix_parts) > len(path_parts):
        return -1
    for index, part in enumerate(prefix_parts):
        if part.lower() != path_parts[index].lower():
            return -1
    return len(prefix_parts)


def _best(elements: Iterable[Any], path: str) -> Any | None:
    best, score = None, 0
    for element in elements:
        matched = prefix_segments(_path(element), path)
        if matched > score:
            best, score = element, matched
    return best


def resolve(site: Element, path: str) -> Vdir | None:
    """The application and virtual directory serving a virtual path."""
    app = _best(site.collection(), path)
    if app is None:
        return None
    rest = path
    app_path = _path(app).rstrip("/")
    if rest.lower().startswith(app_path.lower()):
        rest = rest[len(app_path) :]
    vdir = _best(app.collection(), rest or "/")
    return Vdir(app, vdir) if vdir is not None else None


def physical_path(site: Element, path: str) -> str | None:
    """The physical path behind a virtual path, None when no virtual directory serves it."""
    found = resolve(site, path)
    if found is None:
        return None
    suffix = path[len(found.path.rstrip("/")) :].strip("/")
    base = found.physical_path
    return os.path.abspath(os.path.join(base, *suffix.split("/")) if suffix else base)


def exact_vdir(site: Element, path: str) -> Vdir | None:
    """The vdir whose virtual path is exactly `path` and is reported as one (see upstream's rule)."""
    found = resolve(site, path)
    if found is None or found.path.lower() != path.rstrip("/").lower() and path != "/":
        return None
    if path == "/":
        return found
    root = root_physical_path(site)
    plain = os.path.abspath(os.path.join(root, *path.strip("/").split("/"))) if root else None
    return found if plain != os.path.abspath(found.physical_path) else None


def root_physical_path(site: Element) -> str | None:
    """The physical path of the site's `/` application's `/` directory."""
    found = resolve(site, "/")
    return found.physical_path if found is not None and found.path == "/" else None


def virtual_children(site: Element, path: str) -> list[Vdir]:
    """Virtual entries listed under `path`: at `/` every other application's root, at an app its vdirs."""
    out: list[Vdir] = []
    apps = list(site.collection())
    if path == "/":
        for app in apps:
            root = next((v for v in app.collection() if _path(v) == "/"), None)
            if _path(app) != "/" and root is not None:
                out.append(Vdir(app, root))
    app = next((a for a in apps if _path(a).lower() == path.lower()), None)
    if app is not None:
        out.extend(Vdir(app, v) for v in app.collection() if _path(v) != "/")
    return out


def parent_path(path: str) -> str | None:
    """The virtual parent of a path; None for `/`."""
    if path == "/":
        return None
    return posixpath.dirname(path.rstrip("/")) or "/"
