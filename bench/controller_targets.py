"""Cost of /api/prometheus/targets and of /metrics (fleet aggregates) with 1,000 agents and 10,000 pools.

/metrics is timed twice: with summaries unchanged between scrapes (each agent's part is reused), and with
every agent's summary rewritten before each scrape (as when every agent heartbeats between two scrapes: the
case of a live fleet scraped at the heartbeat interval or slower).

Usage: .venv/bin/python bench/controller_targets.py [--agents 1000] [--pools-per-agent 10] [--requests 30]
Seeds Redis directly (local 6379 if it answers, else embedded), serves the real controller app and, in the same
run, a raw aiohttp endpoint that returns an equally large pre-built body; prints per-request time and ratios.
Not a test; results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.app import build_app, open_redis  # noqa: E402
from controller.services.credentials import create_operator_token  # noqa: E402
from controller.settings import ControllerSettings  # noqa: E402
from controller.store import FleetStore  # noqa: E402
from shared.redis_url import start_embedded  # noqa: E402


def _local_redis() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return "redis://127.0.0.1:6379/0" if sock.recv(16).startswith(b"+PONG") else None
    except OSError:
        return None


def _summary(now: float, pools: int) -> str:
    summary = {
        "ts": now,
        "sites": {f"site{p}": ["started", 1000 + p, float(p % 7)] for p in range(pools)},
        "pools": {f"pool{p}": ["started" if p % 10 else "stopped", 1000 + p, float(p % 7), 3] for p in range(pools)},
    }
    return json.dumps(summary, separators=(",", ":"))


async def heartbeat_all(store: FleetStore, agents: int, pools: int) -> None:
    """Every agent's summary rewritten with a new time (what a round of heartbeats changes)."""
    pipe = store.redis.pipeline(transaction=False)
    text = _summary(time.time(), pools)
    for i in range(agents):
        pipe.set(store._key("agent", f"{i:016x}", "summary"), text)
        if i % 1000 == 999:
            await pipe.execute()
    await pipe.execute()


async def seed(store: FleetStore, agents: int, pools: int) -> None:
    """Agents with labels, facts and a heartbeat summary each (sites = pools)."""
    now = time.time()
    pipe = store.redis.pipeline(transaction=False)
    summary = _summary(now, pools)
    for i in range(agents):
        agent_id = f"{i:016x}"
        fields = {
            "name": f"web{i}",
            "url": f"https://10.{i // 250}.{i % 250}.1:55539",
            "labels": json.dumps({"env": "prod", "dc": f"dc{i % 3}", "role": "web"}),
            "facts": json.dumps({"os": "Windows Server 2022", "site_count": pools, "pool_count": pools}),
            "enrolled_on": "2026-01-01T00:00:00+00:00",
            "cert_serial": "1",
            "cert_expires_on": "2027-01-01T00:00:00+00:00",
            "api_key": "[enc:IisFleetFernet:x:enc]",
        }
        pipe.hset(store._key("agent", agent_id), mapping=fields)
        pipe.sadd(store._key("agents"), agent_id)
        entry = {"name": fields["name"], "url": fields["url"], "labels": json.loads(fields["labels"])}
        pipe.hset(store._key("directory"), agent_id, json.dumps(entry))
        pipe.zadd(store._key("seen"), {agent_id: now + 3600})  # stays online during the run
        pipe.set(store._key("agent", agent_id, "summary"), summary)
        if i % 100 == 99:
            await pipe.execute()
    await pipe.execute()


async def measure(session: aiohttp.ClientSession, url: str, headers: dict[str, str], count: int) -> tuple[float, int]:
    """Median seconds per request over `count` sequential requests, and the body size."""
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            body = await response.read()
            assert response.status == 200, body[:200]
        times.append(time.perf_counter() - started)
        size = len(body)
    return statistics.median(times), size


async def main(agents: int, pools: int, requests: int) -> None:
    """Seed, serve, measure, print, clean up."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-targets-"))
    url, location = _local_redis(), None
    if url is None:
        location = start_embedded(tmp)
        url = location.url
    prefix = f"iisfleet-bench:{uuid.uuid4().hex[:8]}:"
    settings = ControllerSettings(state_dir=tmp, redis_url=url, redis_prefix=prefix, address="127.0.0.1", port=0)
    redis = open_redis(url)
    store = FleetStore(redis, prefix)
    try:
        t0 = time.perf_counter()
        await seed(store, agents, pools)
        print(f"seeded {agents} agents x {pools} pools in {time.perf_counter() - t0:.1f}s")
        token = await create_operator_token(store, "bench")
        app = build_app(settings, url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            await measure(session, f"{base}/metrics", auth, 2)  # warm-up
            targets_t, targets_size = await measure(session, f"{base}/api/prometheus/targets", auth, requests)
            metrics_t, metrics_size = await measure(session, f"{base}/metrics", auth, requests)
            changed: list[float] = []
            for _ in range(max(3, requests // 3)):
                await heartbeat_all(store, agents, pools)
                changed.append((await measure(session, f"{base}/metrics", auth, 1))[0])
            changed_t = statistics.median(changed)
            # The targets body is cached by the directory's version: also time it rebuilt after every change.
            cold: list[float] = []
            for _ in range(max(3, requests // 3)):
                await store.redis.incr(store._key("directory", "version"))
                cold.append((await measure(session, f"{base}/api/prometheus/targets", auth, 1))[0])
            cold_t = statistics.median(cold)
            raw = web.Application()
            targets_body = b"[" + b" " * (targets_size - 2) + b"]"
            metrics_body = b"#" + b" " * (metrics_size - 1)
            raw.router.add_get("/targets", lambda _r: _bytes(targets_body, "application/json"))
            raw.router.add_get("/metrics", lambda _r: _bytes(metrics_body, "text/plain"))
            raw_runner = web.AppRunner(raw, access_log=None)
            await raw_runner.setup()
            raw_site = web.TCPSite(raw_runner, "127.0.0.1", 0)
            await raw_site.start()
            raw_port = raw_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            raw_base = f"http://127.0.0.1:{raw_port}"
            raw_targets_t, _ = await measure(session, f"{raw_base}/targets", {}, requests)
            raw_metrics_t, _ = await measure(session, f"{raw_base}/metrics", {}, requests)
            await raw_runner.cleanup()
        await runner.cleanup()
        print(f"controller_targets: {agents} agents, {agents * pools} pools, median of {requests} requests")
        print(
            f"  /api/prometheus/targets  {targets_t * 1000:8.1f} ms  ({targets_size / 1024:.0f} KiB)"
            f"  raw same-size {raw_targets_t * 1000:6.2f} ms  ratio {targets_t / raw_targets_t:6.1f}x"
        )
        print(f"  /api/prometheus/targets after a directory change (rebuilt): {cold_t * 1000:8.1f} ms")
        print(
            f"  /metrics (aggregates)    {metrics_t * 1000:8.1f} ms  ({metrics_size / 1024:.0f} KiB)"
            f"  raw same-size {raw_metrics_t * 1000:6.2f} ms  ratio {metrics_t / raw_metrics_t:6.1f}x"
        )
        print(
            f"  /metrics after every agent's summary changed: {changed_t * 1000:8.1f} ms"
            f"  ratio {changed_t / raw_metrics_t:6.1f}x"
        )
    finally:
        await store.clear()
        await redis.aclose()
        shutil.rmtree(tmp, ignore_errors=True)
        if location is not None:
            location.close()


async def _bytes(body: bytes, content_type: str) -> web.Response:
    return web.Response(body=body, content_type=content_type)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--pools-per-agent", type=int, default=10)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.agents, args.pools_per_agent, args.requests))
