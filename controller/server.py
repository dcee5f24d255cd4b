"""Running the controller: Redis (configured or embedded), the HTTPS site, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from controller.app import build_app
from controller.keys import CA
from controller.limits import LimitedSite, runner_options
from controller.settings import ControllerSettings
from controller.tls import server_context
from shared.redis_url import RedisLocation, locate, read_url_file, start_embedded

log = logging.getLogger("iisfleet.controller")


def redis_for_tools(settings: ControllerSettings) -> RedisLocation:
    """The Redis a CLI command or worker uses: the flag/env URL, the state dir's URL file, or the embedded one."""
    if settings.redis_url:
        return RedisLocation(url=settings.redis_url)
    written = read_url_file(settings.state_dir)
    if written and not written.startswith("unix://"):
        return RedisLocation(url=written)
    return start_embedded(settings.state_dir)


async def serve(settings: ControllerSettings) -> None:
    """Serve the API until SIGINT/SIGTERM."""
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys, secrets and the Redis URL live here
    location = locate(settings.state_dir, settings.redis_url, write=True)
    try:
        app = build_app(settings, location.url)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_options(settings))
        await runner.setup()
        site = LimitedSite(runner, settings.address, settings.port, ssl_context=server_context(settings, app[CA]),
                           max_connections=settings.max_connections)
        await site.start()
        log.info("controller listening on https://%s:%d (CA %s)", settings.address, settings.port, app[CA].fingerprint)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("controller stopping")
            await runner.cleanup()
    finally:
        location.close()
