"""build_app: the controller's aiohttp application over Redis, its CA and the routing table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from controller.api.middleware import auth_middleware, error_middleware
from controller.api.routes import ROUTES
from controller.api.routing import register
from controller.keys import AGENT_SESSION, CA, SECRET_BOX, SETTINGS, STORE
from controller.pki import CertificateAuthority
from controller.settings import ControllerSettings
from controller.store import FleetStore
from controller.tls import agent_client_context
from shared.secretbox import SecretBox

MAX_BODY = 1024 * 1024  # controller's own routes; gateway bodies are streamed and not limited here


def open_redis(url: str) -> Redis:
    """An asyncio Redis client that decodes replies to str."""
    return Redis.from_url(url, decode_responses=True, health_check_interval=30)


def build_app(settings: ControllerSettings, redis_url: str) -> web.Application:
    """The controller application; Redis and the agent HTTPS client open in cleanup_ctx."""
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[CA] = CertificateAuthority(settings.pki_dir)
    app[SECRET_BOX] = SecretBox(settings.state_dir / "secrets.key")

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        redis = open_redis(redis_url)
        app[STORE] = FleetStore(redis, settings.redis_prefix)
        yield
        await redis.aclose()

    async def agent_session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(ssl=agent_client_context(settings, app[CA]), limit=256, limit_per_host=16)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            app[AGENT_SESSION] = session
            yield

    app.cleanup_ctx.extend([redis_ctx, agent_session_ctx])
    register(app, ROUTES)
    return app
