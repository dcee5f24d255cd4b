"""Bootstrap orchestration: connect, make a join token, upload and install, start, wait until the agent is online.

Plain logic (no aiohttp): the API handler calls `start`, which records the request and runs `execute` as a
task of the API process, so the credentials stay in that process's memory and are dropped when it ends. They
are never written to Redis, to disk or to a log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.auth.operators import SYSTEM, Operator
from controller.auth.roles import selector_within
from controller.bootstrap import records
from controller.bootstrap.errors import BootstrapError
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.plan import INSTALL_TIMEOUT, AgentPlan, make_plan
from controller.bootstrap.remote import Remote
from controller.bootstrap.wheel import installed_wheel
from controller.services.credentials import check_labels, create_join_token
from controller.services.errors import NotPermitted
from controller.services.registry import is_online
from controller.settings import ControllerSettings
from controller.store import FleetStore
from shared.asyncio_utils import create_task

log = logging.getLogger("iisfleet.controller.bootstrap")

Connector = Callable[[BootstrapRequest], Awaitable[Remote]]
WheelSource = Callable[[Path], Awaitable[Path]]
SLACK = 120.0
"""Seconds past the expected end before a still-running record counts as abandoned."""


def bootstrap_dir(state_dir: Path) -> Path:
    """The controller's bootstrap files: known_hosts and the wheel cache."""
    return state_dir / "bootstrap"


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapContext:
    """What a bootstrap needs from the controller; the connector and wheel source are injectable for tests."""

    store: FleetStore
    state_dir: Path
    ca_fingerprint: str
    offline_after: float
    controller_url: str | None
    controller_port: int
    connect: Connector | None = None
    operator: Operator = SYSTEM
    """Who asked for the bootstrap: recorded, and the join token is created in their name."""
    wheel: WheelSource = field(default=installed_wheel)
    poll_interval: float = 0.5


def default_controller_url(settings: ControllerSettings) -> str | None:
    """A URL the controller's certificate covers: its listen address, else its first TLS name."""
    if settings.address not in ("", "0.0.0.0", "::", "*"):
        host = f"[{settings.address}]" if ":" in settings.address else settings.address
        return f"https://{host}:{settings.port}"
    if settings.tls_names:
        return f"https://{settings.tls_names[0]}:{settings.port}"
    return None


def context_for(
    store: FleetStore, settings: ControllerSettings, ca_fingerprint: str, operator: Operator = SYSTEM
) -> BootstrapContext:
    """The context of a controller process, for one operator."""
    return BootstrapContext(
        operator=operator,
        store=store,
        state_dir=settings.state_dir,
        ca_fingerprint=ca_fingerprint,
        offline_after=settings.offline_after,
        controller_url=default_controller_url(settings),
        controller_port=settings.port,
    )


async def connect(request: BootstrapRequest, state_dir: Path) -> Remote:
    """Open the request's transport."""
    if request.transport == "ssh":
        from controller.bootstrap.ssh import SshRemote

        return await SshRemote.connect(request, bootstrap_dir(state_dir) / "known_hosts")
    from controller.bootstrap.winrm import WinrmRemote

    return await WinrmRemote.connect(request)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def create_record(ctx: BootstrapContext, request: BootstrapRequest) -> str:
    """Check the request and store its record (no credentials); returns the bootstrap id."""
    labels = check_labels(request.labels)
    if not selector_within(ctx.operator.scope, labels):
        raise NotPermitted(f"key {ctx.operator.id} is scoped; the agent's labels must include its scope labels")
    bootstrap_id = uuid.uuid4().hex[:16]
    deadline = time.time() + 2 * request.connect_timeout + INSTALL_TIMEOUT + request.wait_timeout + SLACK
    await records.create(ctx.store, bootstrap_id, {
        "transport": request.transport,
        "host": request.host,
        "port": str(request.target_port),
        "username": request.username,
        "name": request.agent_name,
        "address": request.agent_address,
        "agent_port": str(request.agent_port),
        "install_dir": request.target_dir,
        "labels": json.dumps(labels),
        "status": "running",
        "step": "queued",
        "created_on": _now_iso(),
        "updated_on": _now_iso(),
        "deadline": str(deadline),
        **ctx.operator.attribution(),
    })  # fmt: skip
    return bootstrap_id


async def start(ctx: BootstrapContext, request: BootstrapRequest) -> dict[str, Any]:
    """Record the request, start the bootstrap in the background and return the status resource."""
    bootstrap_id = await create_record(ctx, request)
    create_task(execute(ctx, bootstrap_id, request), name=f"bootstrap-{bootstrap_id}")
    view = await records.view(ctx.store, bootstrap_id)
    assert view is not None
    return view


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def execute(ctx: BootstrapContext, bootstrap_id: str, request: BootstrapRequest) -> None:
    """Run one bootstrap to its end; the record ends `succeeded` or `failed`, never with a credential in it."""
    secrets = [s.get_secret_value() for s in (request.password, request.private_key_passphrase) if s]
    try:
        agent_id = await _bootstrap(ctx, bootstrap_id, request, secrets)
    except BootstrapError as err:
        log.warning("bootstrap %s of %s failed: %s", bootstrap_id, request.host, _scrub(str(err), secrets))
        await records.update(ctx.store, bootstrap_id, status="failed", error=_scrub(str(err), secrets))
    except asyncio.CancelledError:
        await records.update(ctx.store, bootstrap_id, status="failed", error="the controller stopped")
        raise
    except Exception as err:  # noqa: BLE001 - any failure must end the record, not vanish with the task
        log.exception("bootstrap %s of %s crashed", bootstrap_id, request.host)
        detail = _scrub(f"{type(err).__name__}: {err}", secrets)
        await records.update(ctx.store, bootstrap_id, status="failed", error=f"unexpected error: {detail}")
    else:
        log.info("bootstrap %s: agent %s (%s) is online", bootstrap_id, request.agent_name, agent_id)
        await records.update(ctx.store, bootstrap_id, status="succeeded", step="done", agent_id=agent_id)


async def _bootstrap(ctx: BootstrapContext, bootstrap_id: str, request: BootstrapRequest, secrets: list[str]) -> str:
    store = ctx.store
    log.info("bootstrap %s: %s to %s@%s:%d", bootstrap_id, request.transport, request.username, request.host,
             request.target_port)
    await records.update(store, bootstrap_id, step="connecting")
    remote = await (ctx.connect or (lambda r: connect(r, ctx.state_dir)))(request)
    try:
        await records.update(store, bootstrap_id, host_key_fingerprint=remote.host_key_fingerprint or "")
        url = request.controller_url or ctx.controller_url
        if url is None and remote.local_address:
            url = f"https://{remote.local_address}:{ctx.controller_port}"
        if url is None:
            raise BootstrapError("cannot tell how the agent reaches the controller; give controller_url")
        wheel = None if request.python else await ctx.wheel(bootstrap_dir(ctx.state_dir) / "wheels")
        # The token is pinned to the agent's name (and address, unless it listens on every address).
        pinned_address = "" if request.agent_address in ("", "*", "0.0.0.0", "::") else request.agent_address
        token = await create_join_token(store, check_labels(request.labels), request.join_token_ttl,
                                        ctx.ca_fingerprint, name=request.agent_name, address=pinned_address,
                                        by=ctx.operator)
        secrets.append(token)
        plan = make_plan(request, controller_url=url, join_token=token, wheel_name=wheel.name if wheel else None)
        await records.update(store, bootstrap_id, step="installing", controller_url=url)
        if wheel is not None and plan.wheel_path:
            await remote.put(plan.wheel_path, await asyncio.to_thread(wheel.read_bytes))
        since = time.time()
        result = await remote.install(plan)
        output = _scrub(result.output, secrets)
        await records.update(store, bootstrap_id, step="waiting", output=output)
        if result.exit_status != 0:
            raise BootstrapError(f"the install script failed with exit status {result.exit_status}; see output")
        agent_id = await _wait_online(ctx, plan, since, request.wait_timeout)
        if agent_id is None:
            tail = _scrub(await remote.log_tail(plan), secrets)
            await records.update(store, bootstrap_id, output=f"{output}\n--- agent log ---\n{tail}")
            raise BootstrapError(
                f"agent {plan.name} did not come online within {request.wait_timeout:.0f} s "
                f"(it must reach {url} and the controller must reach https://{plan.address}:{plan.port})"
            )
        return agent_id
    finally:
        await remote.close()


async def _wait_online(ctx: BootstrapContext, plan: AgentPlan, since: float, limit: float) -> str | None:
    """The agent's id once it has enrolled and sent a heartbeat after `since`; None after `limit` seconds.

    Enrollment itself counts as being seen, but only a real heartbeat carries a summary with `ts`, and an
    agent sends those once it listens: so "online" here means the gateway can reach it.
    """
    deadline = time.monotonic() + limit
    while True:
        agent_id = await ctx.store.agent_id_by_name(plan.name)
        if agent_id is not None:
            seen = (await ctx.store.last_seen()).get(agent_id)
            beat = json.loads(await ctx.store.summary(agent_id) or "{}").get("ts")
            if seen is not None and seen >= since and beat and is_online(seen, time.time(), ctx.offline_after):
                return agent_id
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(ctx.poll_interval)
