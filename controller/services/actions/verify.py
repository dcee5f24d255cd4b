"""A step counts only once verified: the site and its pool are started, a worker runs, the health check passes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from controller.services.actions.base import StepContext
from controller.services.actions.iis import POOLS, SITES
from controller.services.agent_client import PermanentError, TransientError
from controller.services.job_models import HealthCheck

WORKERS = "/api/webserver/worker-processes"
SETTLE = 10.0
"""Seconds a site or pool may spend `starting` before we call it a failure."""
POLL_DELAYS = (0.05, 0.1, 0.2, 0.3)
"""Waits between checks, then the last one repeated: a switch usually shows within tens of milliseconds
(the embedded host reconciles right after the config write), so the first recheck comes early."""


def _delay(attempt: int) -> float:
    return POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]


def site_url(ctx: StepContext, site: dict[str, Any], path: str = "/") -> tuple[str, dict[str, str]]:
    """The URL of a site's first HTTP(S) binding (a `*` address means the agent's own) and its Host header."""
    for binding in site.get("bindings") or []:
        if binding.get("protocol") not in ("http", "https"):
            continue
        ip = str(binding.get("ip_address") or "*")
        host = ctx.client.host if ip in ("*", "", "0.0.0.0") else ip
        host = f"[{host}]" if ":" in host else host
        headers = {"Host": f"{binding['hostname']}:{binding['port']}"} if binding.get("hostname") else {}
        return f"{binding['protocol']}://{host}:{binding['port']}{path}", headers
    raise PermanentError(f"site {site.get('name')!r} has no http or https binding to check")


async def _settled(ctx: StepContext, collection: str, item_id: str, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE
    attempt = 0
    while True:
        _status, model = await ctx.client.call("GET", f"{collection}/{item_id}")
        if model.get("status") == "started":
            return dict(model)
        if model.get("status") != "starting" or time.monotonic() > deadline:
            raise PermanentError(f"{what} is {model.get('status')} on {ctx.client.name}, expected started")
        await asyncio.sleep(_delay(attempt))
        attempt += 1


async def _request(ctx: StepContext, url: str, headers: dict[str, str]) -> tuple[int, str]:
    try:
        async with ctx.probe.get(url, headers=headers, allow_redirects=False) as response:
            return response.status, await response.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise TransientError(f"{url} did not answer: {err or type(err).__name__}") from err


async def _worker_runs(ctx: StepContext, site: dict[str, Any], pool: dict[str, Any]) -> str:
    status, body = await ctx.client.call("GET", f"{WORKERS}?application_pool.id={pool['id']}", allow=(404,))
    url, headers = site_url(ctx, site)
    if status == 200 and (body or {}).get("worker_processes"):
        return "worker process running"
    # No worker listed yet (pools start on demand), or no worker-processes endpoint: ask the site itself.
    code, _text = await _request(ctx, url, headers)
    if code >= 500:
        raise TransientError(f"{url} answered {code}")
    if status == 200:
        _status, body = await ctx.client.call("GET", f"{WORKERS}?application_pool.id={pool['id']}")
        if not (body or {}).get("worker_processes"):
            raise TransientError(f"pool {pool['name']!r} runs no worker process after a request to {url}")
        return "worker process running"
    return f"site answered {code}"


async def health_check(ctx: StepContext, site: dict[str, Any], check: HealthCheck) -> str:
    """Request `check.path` on the site's binding until it answers as expected or the timeout passes."""
    url, headers = site_url(ctx, site, check.path)
    deadline = time.monotonic() + check.timeout
    problem = ""
    attempt = 0
    while True:
        try:
            code, text = await _request(ctx, url, headers)
            if code != check.expect_status:
                problem = f"{url} answered {code}, expected {check.expect_status}"
            elif check.contains is not None and check.contains not in text:
                problem = f"{url} answered {code} without {check.contains!r}"
            else:
                return f"{url} answered {code}"
        except TransientError as err:
            problem = str(err)
        if time.monotonic() > deadline:
            raise TransientError(f"health check failed: {problem}")
        await asyncio.sleep(_delay(attempt))
        attempt += 1


async def verify_site(ctx: StepContext, site: dict[str, Any]) -> dict[str, Any]:
    """Check that the site and its pool are started, a worker runs, and the job's health check passes."""
    site = await _settled(ctx, SITES, site["id"], f"site {site['name']!r}")
    pool_ref = site.get("application_pool") or {}
    if not pool_ref.get("id"):
        raise PermanentError(f"site {site['name']!r} has no application pool")
    pool = await _settled(ctx, POOLS, pool_ref["id"], f"application pool {pool_ref.get('name')!r}")
    verified: dict[str, Any] = {"worker": await _worker_runs(ctx, site, pool)}
    if ctx.strategy.health_check is not None:
        verified["health"] = await health_check(ctx, site, ctx.strategy.health_check)
    return verified


async def verify_pool(ctx: StepContext, pool: dict[str, Any]) -> dict[str, Any]:
    """A started pool with a running worker, checked through one of the sites it serves (if any)."""
    pool = await _settled(ctx, POOLS, pool["id"], f"application pool {pool['name']!r}")
    _status, body = await ctx.client.call("GET", f"{SITES}?application_pool.id={pool['id']}")
    sites = body.get("websites", []) if isinstance(body, dict) else []
    if not sites:
        return {"worker": "pool started; no site uses it"}
    _status, site = await ctx.client.call("GET", f"{SITES}/{sites[0]['id']}")
    return await verify_site(ctx, dict(site))
