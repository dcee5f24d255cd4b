"""pool.start, pool.stop, pool.recycle."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from controller.services.actions.base import StepContext
from controller.services.actions.iis import POOLS, require_pool, set_status
from controller.services.actions.verify import verify_pool
from controller.services.agent_client import PermanentError
from controller.services.job_models import Strict


class PoolParams(Strict):
    """The application pool's name."""

    name: str = Field(min_length=1)


async def start(ctx: StepContext, params: PoolParams) -> dict[str, Any]:
    """Start the pool (no-op when started), verify a worker runs."""
    pool = await require_pool(ctx.client, params.name)
    await ctx.guard()
    if pool.get("status") != "started":
        pool = await set_status(ctx.client, POOLS, pool, "started")
    return {"pool": params.name, **await verify_pool(ctx, pool)}


async def stop(ctx: StepContext, params: PoolParams) -> dict[str, Any]:
    """Stop the pool and check that it reports stopped."""
    pool = await require_pool(ctx.client, params.name)
    await ctx.guard()
    if pool.get("status") != "stopped":
        await set_status(ctx.client, POOLS, pool, "stopped")
    _status, now = await ctx.client.call("GET", f"{POOLS}/{pool['id']}")
    if now.get("status") != "stopped":
        raise PermanentError(f"pool {params.name!r} is {now.get('status')} on {ctx.client.name}, expected stopped")
    return {"pool": params.name, "status": "stopped"}


async def recycle(ctx: StepContext, params: PoolParams) -> dict[str, Any]:
    """Recycle once per job: the recycle is recorded, so a redelivered task only verifies."""
    pool = await require_pool(ctx.client, params.name)
    if ctx.facts.get("recycled") != "1":
        await ctx.guard()
        await ctx.remember(recycle_sent="1")
        await set_status(ctx.client, POOLS, pool, "recycling")
        await ctx.remember(recycled="1")
    return {"pool": params.name, "recycled": True, **await verify_pool(ctx, pool)}
