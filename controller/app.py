"""build_app: the controller's aiohttp application over Redis, its CA and the routing table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from controller.api.gateway_cors import cors_middleware, cors_on_prepare
from controller.api.middleware import auth_middleware, error_middleware
from controller.api.routes import ROUTES
from controller.api.routing import register
from controller.auth.guard import AuthGuard, GuardLimits
from controller.console.assets import ASSETS, load_assets
from controller.keys import AGENT_SESSION, AUTH_GUARD, CA, CELERY, SECRET_BOX, SETTINGS, STORE
from controller.pki import CertificateAuthority
from controller.services import retention, rollout
from controller.services.agent_client import open_agent_session
from controller.settings import ControllerSettings
from controller.state_lock import state_lock
from controller.store import FleetStore
from controller.worker.celery_app import make_celery
from shared.asyncio_utils import create_task
from shared.secretbox import SecretBox

log = logging.getLogger("iisfleet.controller")

MAX_BODY = 1024 * 1024  # controller's own routes; gateway bodies are streamed and not limited here


def open_redis(url: str) -> Redis:
    """An asyncio Redis client that decodes replies to str."""
    return Redis.from_url(url, decode_responses=True, health_check_interval=30)


async def _reap_forever(store: FleetStore, stall_timeout: float) -> None:
    """Mark jobs failed that stopped making progress (a lost worker or Redis); see rollout.reap."""
    while True:
        await asyncio.sleep(max(0.5, min(5.0, stall_timeout / 4)))
        try:
            await rollout.reap(store, stall_timeout)
        except Exception:  # noqa: BLE001 - Redis may be restarting; the next round tries again
            log.warning("job reaper round failed", exc_info=True)


async def _sweep_forever(store: FleetStore, settings: ControllerSettings) -> None:
    """Apply the retention setting now and then every hour (see controller/services/retention.py)."""
    while True:
        try:
            await retention.sweep(store, settings)
        except Exception:  # noqa: BLE001 - Redis may be restarting; the next round tries again
            log.warning("retention sweep failed", exc_info=True)
        await asyncio.sleep(retention.SWEEP_EVERY)


def build_app(settings: ControllerSettings, redis_url: str) -> web.Application:
    """The controller application; Redis and the agent HTTPS client open in cleanup_ctx."""
    app = web.Application(middlewares=[cors_middleware, error_middleware, auth_middleware], client_max_size=MAX_BODY)
    app.on_response_prepare.append(cors_on_prepare)
    app[SETTINGS] = settings
    app[CA] = CertificateAuthority(settings.pki_dir)
    with state_lock(settings.state_dir):  # processes sharing the state directory share one secrets key
        app[SECRET_BOX] = SecretBox(settings.state_dir / "secrets.key")
    app[ASSETS] = load_assets()
    app[AUTH_GUARD] = AuthGuard(
        GuardLimits(max_failures=settings.auth_max_failures, window=settings.auth_failure_window)
    )

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        redis = open_redis(redis_url)
        app[STORE] = FleetStore(redis, settings.redis_prefix)
        yield
        await redis.aclose()
        app[AUTH_GUARD].close()

    async def agent_session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_agent_session(settings, app[CA]) as session:
            app[AGENT_SESSION] = session
            yield

    async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
        app[CELERY] = make_celery(redis_url, settings.redis_prefix)
        reaper = create_task(_reap_forever(app[STORE], settings.job_stall_timeout), name="job-reaper")
        sweeper = create_task(_sweep_forever(app[STORE], settings), name="retention-sweep")
        yield
        for task in (reaper, sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.extend([redis_ctx, agent_session_ctx, jobs_ctx])
    register(app, ROUTES)
    return app
