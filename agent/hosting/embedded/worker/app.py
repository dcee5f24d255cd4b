"""WorkerApp: turns the requests a supervisor forwards into HttpContexts and runs the module pipeline.

It reloads applicationHost.config when the supervisor's X-IISFleet-Config version changes and offers static
answers to the supervisor's response cache (cache_policy.py is the contract between the two).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from agent.hosting.embedded import cache_policy
from agent.hosting.embedded.model import AppSpec, ServerSpec, SiteSpec
from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from agent.hosting.embedded.worker import handoff
from agent.hosting.embedded.worker.context import SERVER_HEADER, ConfigView, HttpContext
from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse
from agent.hosting.embedded.worker.pipeline import PipelineFactory
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse

ROUTES_LIMIT = 8192
Route = tuple[SiteSpec, str | None, AppSpec | None, str | None]
"""A request path's site, normalised URL path, application and physical path."""


def _route(server: ServerSpec, site_name: str, path: str) -> Route | None:
    site = server.sites.get(site_name)
    if site is None:
        return None
    url_path = normalize_url_path(path)
    app = match_app(site.apps, url_path) if url_path is not None else None
    physical = map_path(app, url_path) if app is not None and url_path is not None else None
    return site, url_path, app, physical


class WorkerApp:
    """Turns forwarded requests into HttpContexts and runs them through the pipeline."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.config = ConfigView(store)
        self.pipelines = PipelineFactory()
        self.version = ""
        # (site, path) -> where it maps, for the ServerSpec `_routes_of` (one configuration generation).
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._routes_of: ServerSpec | None = None

    def context(self, request: Request) -> HttpContext | None:
        """The request's site, application, URL and physical path; None if the site is unknown here."""
        server = self.config.server()
        if server is not self._routes_of or len(self._routes) >= ROUTES_LIMIT:
            self._routes.clear()
            self._routes_of = server
        key = (request.headers.get("X-IISFleet-Site", "").lower(), request.path)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = _route(server, *key)
        if route is None:
            return None
        site, url_path, app, physical = route
        ctx = HttpContext(request, self.config, site.name, site.id, app, url_path or "/", physical,
                          site.name + (url_path or "/").rstrip("/"))  # fmt: skip
        if url_path is None:
            ctx.error(400)
        return ctx

    def follow(self, version: str) -> None:
        """Reload the configuration when the supervisor's version `version` is not the one last seen."""
        if version != self.version:
            self.store.refresh_if_changed()
            self.version = version

    async def run(self, request: Request, *, relayed: bool = True, cached: bool = False,
                  ) -> tuple[StreamResponse, HttpContext | None]:  # fmt: skip
        """The pipeline's response and its context (None when the site is unknown here). A relayed answer may be
        offered to the supervisor's response cache (an X-IISFleet-Cache header), a handed-off one to the
        worker's own (`cached`: StaticFileResponse.cache_files, worker/direct_cache.py)."""
        ctx = self.context(request)
        if ctx is None:
            return Response(status=503, text="site not configured in this worker"), None
        response = await self.pipelines.for_request(ctx).run(ctx)
        if (relayed or cached) and isinstance(response, StaticFileResponse):
            response.cache_header = relayed
            _offer_to_kernel_cache(ctx, response)
        handoff.strip_forged(response)  # only StaticFileResponse may set it, later, while it is sent
        response.headers["Server"] = SERVER_HEADER
        return response, ctx

    async def handle(self, request: Request) -> StreamResponse:
        """Serve one request the supervisor relays: the module results travel in X-IISFleet-* headers."""
        self.follow(request.headers.get("X-IISFleet-Config", ""))
        response, ctx = await self.run(request)
        if ctx is not None:
            response.headers["X-IISFleet-Substatus"] = str(ctx.substatus)
            response.headers["X-IISFleet-Win32"] = str(ctx.win32)
            response.headers["X-IISFleet-Log"] = "1" if ctx.log_enabled else "0"
            if ctx.user:  # W3C cs-username; quoted, as a user name may hold any character
                response.headers["X-IISFleet-User"] = quote(ctx.user, safe="")
        return response


def _offer_to_kernel_cache(ctx: HttpContext, response: StaticFileResponse) -> None:
    """Let StaticFileResponse mark the response cacheable: plain anonymous GET, caching enabled at the path."""
    request = ctx.request
    if request.method != "GET" or ctx.user or not ctx.kernel_cacheable:
        return
    if not cache_policy.request_cacheable(request.method, request.headers):
        return
    if not ctx.settings(cache_policy.SECTION, cache_policy.load):
        return
    # A default document also depends on its directory: a new file earlier in the list changes the answer.
    directory = ctx.items.get("default_document_dir")
    deps: tuple[cache_policy.FileIdentity, ...] = ()
    if directory is not None:
        deps = (cache_policy.FileIdentity.of(directory[0], directory[1]),)
    response.kernel_cache_deps = deps
