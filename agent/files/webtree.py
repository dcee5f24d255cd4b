"""The virtual file tree of a site: which application and virtual directory serve a virtual path.

Rules as upstream, and as the embedded host serves: agent.iisconfig.urlmap picks the application and then
its virtual directory (longest whole-segment prefix, case-insensitive; `/a/bc` belongs to `/a`, not `/a/b`);
the physical path is that vdir's physical path plus the rest. Elements are anything with `get(name)` and
`collection()`, as agent.iisconfig's ConfigElement has.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.iisconfig import urlmap
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


def _children(element: Any) -> Iterable[Any]:
    children: Iterable[Any] = element.collection()
    return children


def _mapped(site: Element, path: str) -> urlmap.Mapped[Any, Any] | None:
    return urlmap.resolve(site.collection(), path, _path, _children)


def resolve(site: Element, path: str) -> Vdir | None:
    """The application and virtual directory serving a virtual path."""
    found = _mapped(site, path)
    return Vdir(found.app, found.vdir) if found is not None else None


def physical_path(site: Element, path: str) -> str | None:
    """The physical path behind a virtual path, None when no virtual directory serves it."""
    found = _mapped(site, path)
    if found is None:
        return None
    suffix = found.rest.strip("/")
    base = Vdir(found.app, found.vdir).physical_path
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
