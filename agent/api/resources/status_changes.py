"""Runtime status members (`status` in PATCH bodies) handed to the Host."""

from __future__ import annotations

from typing import Any

from agent.api.context import Ctx
from agent.hosting.base import RuntimeStatus
from shared.errors import InvalidParameter

STATUS_NAMES = ("started", "stopped", "starting", "stopping", "unknown", "recycling")


def parse_status(body: dict[str, Any], actionable: tuple[str, ...]) -> str | None:
    """The requested state change, if any; other valid names are ignored as upstream does."""
    raw = body.get("status")
    if raw is None:
        return None
    if not isinstance(raw, str) or raw.strip().lower() not in STATUS_NAMES:
        raise InvalidParameter("status")
    wanted = raw.strip().lower()
    return wanted if wanted in actionable else None


async def change_site_status(ctx: Ctx, site_name: str, wanted: str | None) -> None:
    """Start or stop a site when the body asks for a state it is not in."""
    if wanted is None or ctx.host.site_status(site_name).value == wanted:
        return
    if wanted == RuntimeStatus.STARTED:
        await ctx.host.start_site(site_name)
    else:
        await ctx.host.stop_site(site_name)


async def change_pool_status(ctx: Ctx, pool_name: str, wanted: str | None) -> None:
    """Start, stop or recycle a pool when the body asks for it."""
    if wanted is None:
        return
    if wanted == "recycling":
        await ctx.host.recycle_pool(pool_name)
    elif ctx.host.pool_status(pool_name).value != wanted:
        await (ctx.host.start_pool(pool_name) if wanted == RuntimeStatus.STARTED else ctx.host.stop_pool(pool_name))
