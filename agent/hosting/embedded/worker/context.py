"""HttpContext: one request inside a worker, and ConfigView: effective settings cached per generation."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent.hosting.embedded.model import AppSpec, ServerSpec, read_server
from agent.hosting.embedded.wire import ABORT_HEADER
from agent.hosting.embedded.worker.errors import WIN32, error_html
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse

T = TypeVar("T")
# Headers that describe one body: a module that replaces the body drops them and carries the rest over.
ENTITY_HEADERS = frozenset({"content-length", "content-type", "content-encoding", "etag", "last-modified",
                            "accept-ranges", "content-range"})  # fmt: skip
SERVER_HEADER = "Microsoft-IIS/10.0"
# Settings are cached per (section, config path); a generation change clears the cache, a cap bounds it.
CACHE_LIMIT = 8192


class ConfigView:
    """Effective configuration for the worker, turned into module settings once per generation."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._generation = -1
        self._cache: dict[tuple[str, str, Callable[..., Any]], Any] = {}
        self._server: ServerSpec | None = None

    def _check(self) -> None:
        if self.store.generation != self._generation:
            self._generation = self.store.generation
            self._cache.clear()
            self._server = None

    def settings(self, section: str, path: str, loader: Callable[[Any], T]) -> T:
        """loader(effective section at `path`), computed once per generation."""
        self._check()
        key = (section, path, loader)
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        value = self._cache[key] = loader(self.store.effective_section(section, path))
        return value

    def server(self) -> ServerSpec:
        """Sites and pools of the current generation."""
        self._check()
        if self._server is None:
            self._server = read_server(self.store, "")
        return self._server


def carried_headers(response: StreamResponse, *keep: str) -> dict[str, str]:
    """The response's headers a replacement body keeps (all but ENTITY_HEADERS, except those in `keep`)."""
    kept = {k.lower() for k in keep}
    return {k: v for k, v in response.headers.items() if k.lower() not in ENTITY_HEADERS or k.lower() in kept}


@dataclass(slots=True, eq=False)
class HttpContext:
    """What pipeline modules see and change for one request."""

    request: Request
    config: ConfigView
    site: str
    site_id: int
    app: AppSpec | None
    url_path: str
    physical_path: str | None
    config_path: str
    response: StreamResponse | None = None
    substatus: int = 0
    win32: int = 0
    user: str = ""
    log_enabled: bool = True
    stage: str = ""
    completed: bool = False
    # False once a module's answer depends on more than the URL (client address, user): IIS DisableKernelCache.
    kernel_cacheable: bool = True
    items: dict[str, Any] = field(default_factory=dict)

    def settings(self, section: str, loader: Callable[[Any], T]) -> T:
        """A module's settings from `section` at this request's config path (cached per generation)."""
        return self.config.settings(section, self.config_path, loader)

    def client_ip(self) -> str:
        """The client's address as the supervisor saw it (X-IISFleet-Client is set by the supervisor only)."""
        client = self.request.headers.get("X-IISFleet-Client", "")
        host = client.rpartition(":")[0] if ":" in client else client
        return host.strip("[]")

    def stat(self) -> os.stat_result | None:
        """os.stat of the physical path (None when missing or invalid), taken once per path per request."""
        path = self.physical_path
        if path is None:
            return None
        cached = self.items.get("stat")
        if cached is not None and cached[0] == path:
            return cached[1]  # type: ignore[no-any-return]
        try:
            st: os.stat_result | None = os.stat(path)
        except (OSError, ValueError):
            st = None
        self.items["stat"] = (path, st)
        return st

    def complete(self) -> None:
        """Skip the remaining stages up to logging (IIS CompleteRequest)."""
        self.completed = True

    def abort(self) -> None:
        """Drop the connection without an answer (IIS AbortRequest); the supervisor does it on ABORT_HEADER."""
        self.response = Response(status=400, headers={ABORT_HEADER: "1"})
        self.complete()

    def error(self, status: int, substatus: int = 0, *, headers: dict[str, str] | None = None) -> None:
        """Answer with IIS's error page for status.substatus and complete the request."""
        body = error_html(status, substatus) if self.request.method != "HEAD" else ""
        self.response = Response(status=status, text=body, content_type="text/html", headers=headers)
        self.substatus = substatus
        self.win32 = WIN32.get((status, substatus), 0)
        self.complete()
