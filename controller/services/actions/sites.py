"""site.create, site.delete, site.start, site.stop: idempotent on every agent (same end state, same result)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from controller.services.actions.base import StepContext
from controller.services.actions.iis import (
    POOLS,
    SITES,
    ensure_dir,
    find_pool,
    find_site,
    pathmod,
    require_site,
    set_status,
    writable_root,
)
from controller.services.actions.verify import verify_site
from controller.services.agent_client import PermanentError
from controller.services.job_models import Strict


class Binding(Strict):
    """One HTTP(S) binding; `*` means every address, which an agent started with --address treats as it."""

    protocol: Literal["http", "https"] = "http"
    port: int = Field(default=8080, ge=1, le=65535)
    ip_address: str = "*"
    hostname: str = ""


class SiteCreateParams(Strict):
    """site.create: the site, its pool (default: named after the site), bindings and content directory."""

    name: str = Field(min_length=1, max_length=200)
    bindings: list[Binding] = Field(default_factory=lambda: [Binding()], min_length=1)
    physical_path: str | None = None
    """Default: `<first writable file location>/sites/<name>` on each agent."""
    pool: str | None = None


class SiteParams(Strict):
    """site.delete, site.start, site.stop: the site's name."""

    name: str = Field(min_length=1)


def _binding_key(binding: dict[str, Any]) -> tuple[str, str, int, str]:
    ip = str(binding.get("ip_address") or "*")
    host = str(binding.get("hostname") or "")
    return str(binding["protocol"]), "*" if ip in ("", "*") else ip, int(binding["port"]), host


async def create(ctx: StepContext, params: SiteCreateParams) -> dict[str, Any]:
    """Create (or confirm) the pool, the content directory and the site, start both, verify."""
    client = ctx.client
    pool_name = params.pool or params.name
    wanted = sorted(_binding_key(b.model_dump()) for b in params.bindings)
    site = await find_site(client, params.name)
    pool = await find_pool(client, pool_name)
    if site is not None:
        have = sorted(_binding_key(b) for b in site.get("bindings") or [])
        have_pool = str((site.get("application_pool") or {}).get("name", ""))
        if have != wanted or have_pool.lower() != pool_name.lower():
            raise PermanentError(
                f"site {params.name!r} already exists on {client.name} with other settings "
                f"(bindings {have}, pool {have_pool!r})"
            )
    await ctx.guard()
    if pool is None:
        _status, pool = await client.call("POST", POOLS, body={"name": pool_name}, allow=(409,))
        pool = await find_pool(client, pool_name)
        if pool is None:
            raise PermanentError(f"{client.name} did not create application pool {pool_name!r}")
    if pool.get("status") != "started":
        pool = await set_status(client, POOLS, pool, "started")
    if site is None:
        root = await writable_root(client) if params.physical_path is None else ""
        path = params.physical_path or pathmod(root).join(root, "sites", params.name)
        await ensure_dir(client, path)
        body = {
            "name": params.name,
            "physical_path": path,
            "bindings": [b.model_dump() for b in params.bindings],
            "application_pool": {"id": pool["id"]},
        }
        status, created = await client.call("POST", SITES, body=body, allow=(409,))
        site = await require_site(client, params.name) if status == 409 else dict(created)
    if site.get("status") != "started":
        site = await set_status(client, SITES, site, "started")
    return {"site": site["name"], "physical_path": site.get("physical_path"), **await verify_site(ctx, site)}


async def delete(ctx: StepContext, params: SiteParams) -> dict[str, Any]:
    """Delete the site (already gone counts as done); its pool and content stay."""
    site = await find_site(ctx.client, params.name)
    if site is None:
        return {"site": params.name, "deleted": False, "detail": "no such site (nothing to do)"}
    await ctx.guard()
    await ctx.client.call("DELETE", f"{SITES}/{site['id']}")
    if await find_site(ctx.client, params.name) is not None:
        raise PermanentError(f"site {params.name!r} still exists on {ctx.client.name} after DELETE")
    return {"site": params.name, "deleted": True}


async def start(ctx: StepContext, params: SiteParams) -> dict[str, Any]:
    """Start the site (and make sure its pool runs), then verify."""
    site = await require_site(ctx.client, params.name)
    await ctx.guard()
    pool_ref = site.get("application_pool") or {}
    if pool_ref.get("id") and pool_ref.get("status") != "started":
        await set_status(ctx.client, POOLS, pool_ref, "started")
    if site.get("status") != "started":
        site = await set_status(ctx.client, SITES, site, "started")
    return {"site": params.name, **await verify_site(ctx, site)}


async def stop(ctx: StepContext, params: SiteParams) -> dict[str, Any]:
    """Stop the site and check that it reports stopped."""
    site = await require_site(ctx.client, params.name)
    await ctx.guard()
    if site.get("status") != "stopped":
        site = await set_status(ctx.client, SITES, site, "stopped")
    _status, now = await ctx.client.call("GET", f"{SITES}/{site['id']}")
    if now.get("status") != "stopped":
        raise PermanentError(f"site {params.name!r} is {now.get('status')} on {ctx.client.name}, expected stopped")
    return {"site": params.name, "status": "stopped"}
