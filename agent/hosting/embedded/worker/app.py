"""WorkerApp: turns the requests a supervisor forwards into HttpContexts and runs the module pipeline.

It reloads applicationHost.config when the supervisor's X-IISFleet-Config version changes and offers static
answers to the supervisor's response cache (cache_policy.py is the contract between the two).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from agent.hosting.embedded import cache_policy
from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from agent.hosting.embedded.worker import handoff
from agent.hosting.embedded.worker.context import SERVER_HEADER, ConfigView, HttpContext
from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse
from agent.hosting.embedded.worker.pipeline import PipelineFactory
from agent.hosting.embedded.worker.request import Request
from agent.hosting.embedded.worker.response import Response, StreamResponse


class WorkerApp:
    """Turns forwarded requests into HttpContexts and runs them through the pipeline."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.config = ConfigView(store)
        self.pipelines = PipelineFactory()
        self.version = ""

    def context(self, request: Request) -> HttpContext | None:
        """The request's site, application, URL and physical path; None if the site is unknown here."""
        site = self.config.server().sites.get(request.headers.get("X-IISFleet-Site", "").lower())
        if site is None:
            return None
        url_path = normalize_url_path(request.path)
        app = match_app(site.apps, url_path) if url_path is not None else None
        physical = map_path(app, url_path) if app is not None and url_path is not None else None
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

    async def run(self, request: Request, *, relayed: bool = True) -> tuple[StreamResponse, HttpContext | None]:
        """The pipeline's response and its context (None when the site is unknown here). Only a relayed request
        may be offered to the supervisor's response cache: a handed-off connection has no supervisor in front."""
        ctx = self.context(request)
        if ctx is None:
            return Response(status=503, text="site not configured in this worker"), None
        response = await self.pipelines.for_request(ctx).run(ctx)
        if relayed and isinstance(response, StaticFileResponse):
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
