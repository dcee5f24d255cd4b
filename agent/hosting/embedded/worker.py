"""`python -m agent.hosting.embedded.worker`: a w3wp-like worker process serving one application pool.

It serves the unix socket its supervisor bound (fd inherited), loads applicationHost.config itself and
reloads it when the supervisor's X-IISFleet-Config version changes, runs each request through the
module pipeline, and dies with its parent (PR_SET_PDEATHSIG plus EOF on stdin).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.hosting.embedded import cache_policy
from agent.hosting.embedded.context import SERVER_HEADER, ConfigView, HttpContext
from agent.hosting.embedded.modules.static_file import StaticFileResponse
from agent.hosting.embedded.pipeline import PipelineFactory
from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from agent.hosting.embedded.worker_process import READY_LINE
from shared.asyncio_utils import create_task

log = logging.getLogger("iisfleet.worker")
PR_SET_PDEATHSIG = 1


class WorkerApp:
    """Turns forwarded requests into HttpContexts and runs them through the pipeline."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.config = ConfigView(store)
        self.pipelines = PipelineFactory()
        self.version = ""

    def context(self, request: web.BaseRequest) -> HttpContext | None:
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

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve one request."""
        version = request.headers.get("X-IISFleet-Config", "")
        if version != self.version:
            self.store.refresh_if_changed()
            self.version = version
        ctx = self.context(request)
        if ctx is None:
            return web.Response(status=503, text="site not configured in this worker")
        response = await self.pipelines.for_request(ctx).run(ctx)
        if isinstance(response, StaticFileResponse):
            _offer_to_kernel_cache(ctx, response)
        response.headers["Server"] = SERVER_HEADER
        response.headers["X-IISFleet-Substatus"] = str(ctx.substatus)
        response.headers["X-IISFleet-Win32"] = str(ctx.win32)
        response.headers["X-IISFleet-Log"] = "1" if ctx.log_enabled else "0"
        return response


def _offer_to_kernel_cache(ctx: HttpContext, response: StaticFileResponse) -> None:
    """Let StaticFileResponse mark the response cacheable: plain anonymous GET, caching enabled at the path."""
    request = ctx.request
    if request.method != "GET" or ctx.user or not cache_policy.request_cacheable(request.method, request.headers):
        return
    if not ctx.settings(cache_policy.SECTION, cache_policy.load):
        return
    # A default document also depends on its directory: a new file earlier in the list changes the answer.
    directory = ctx.items.get("default_document_dir")
    deps: tuple[cache_policy.FileIdentity, ...] = ()
    if directory is not None:
        deps = (cache_policy.FileIdentity.of(directory[0], directory[1]),)
    response.kernel_cache_deps = deps


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


async def _watch_stdin(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while await reader.read(1024):
            pass
    finally:
        transport.close()
        stop.set()


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM or until the supervisor goes away."""
    from agent.iisconfig import ConfigStore

    store = ConfigStore(Path(args.config))
    store.load()
    worker = WorkerApp(store)
    sock = socket.socket(fileno=args.fd)
    server = web.Server(worker.handle, access_log=None)
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watcher = create_task(_watch_stdin(stop), name="watch supervisor")
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()
    await stop.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="agent.hosting.embedded.worker")
    parser.add_argument("--pool", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fmt = f"%(asctime)s w3wp[{os.getpid()}] %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.WARNING, format=fmt)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
