"""Benchmark: the console's Fleet page with 1,000 agents in headless Chromium, against 10 agents in the same run.

A real controller (its own process) over Redis; the registry is filled directly in Redis (agent records,
facts, heartbeats: 5% offline, 5% with certificates about to expire). Chromium signs in once, then loads
`/#/fleet` afresh for every sample. Reported: milliseconds from navigation start to the page's
`fleet-painted` mark (modules loaded, session checked, GET /api/agents answered, table built, next frame
laid out and painted), split into data (`fleet-data`), DOM build (`fleet-rendered`) and layout + paint; medians.

    .venv/bin/python bench/console_fleet.py [--agents 10,1000] [--samples 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.browser import chromium, screenshot  # noqa: E402
from tests.e2e.test_controller_fleet import _free_port, _local_redis  # noqa: E402


async def _seed(url: str, prefix: str, count: int) -> str:
    """Empty the prefix, write `count` agents with heartbeats, and return a new operator token."""
    from controller.app import open_redis
    from controller.services.credentials import create_operator_token
    from controller.store import FleetStore

    redis = open_redis(url)
    store = FleetStore(redis, prefix)
    await store.clear()
    now = time.time()
    for n in range(count):
        agent_id = f"{n:016x}"
        expires = now + (3 if n % 20 == 7 else 30) * 86400
        labels = {"env": ("prod", "staging", "dev")[n % 3], "role": ("web", "api")[n % 2], "rack": f"r{n % 40}"}
        facts = {"os": "Windows Server 2022", "hostname": f"web{n:04d}", "agent_version": "0.1.0",
                 "host_backend": "iis", "site_count": 3 + n % 7, "pool_count": 2 + n % 5}
        await store.put_agent(agent_id, {
            "name": f"web{n:04d}", "url": f"https://10.0.{n // 250}.{n % 250}:55539", "labels": json.dumps(labels),
            "facts": json.dumps(facts), "enrolled_on": "2026-11-01T00:00:00+00:00", "cert_serial": str(n),
            "cert_expires_on": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(expires)), "api_key": "x"})
        if n % 20 != 3:  # 5% never sent a heartbeat: offline
            await store.record_heartbeat(agent_id, now, json.dumps(facts), "{}")
    token = await create_operator_token(store, "bench")
    await redis.aclose()
    return token


def _measure(driver: Any, url: str, samples: int) -> dict[str, float]:
    painted: list[float] = []
    data: list[float] = []
    built: list[float] = []
    for _ in range(samples):
        driver.get("about:blank")
        driver.get(url + "/#/fleet")
        deadline = time.monotonic() + 30
        while driver.execute_script("return document.body && document.body.dataset.page") != "fleet":
            if time.monotonic() > deadline:
                raise RuntimeError("the fleet page did not render within 30 s")
            time.sleep(0.02)
        marks = driver.execute_script(
            "return Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime]))")
        painted.append(float(marks["fleet-painted"]))
        data.append(float(marks["fleet-data"]))
        built.append(float(marks["fleet-rendered"]))
    rows = driver.execute_script("return document.querySelectorAll('#agents tbody tr').length")
    total = statistics.median(painted)
    fetched = statistics.median(data)
    built_at = statistics.median(built)
    return {"rows": float(rows), "painted_ms": total, "data_ms": fetched, "dom_ms": built_at - fetched,
            "paint_ms": total - built_at}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="10,1000")
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    counts = [int(c) for c in args.agents.split(",")]
    redis_url = _local_redis()
    if redis_url is None:
        print("needs a Redis server: set REDIS_URL or run one on 127.0.0.1:6379", file=sys.stderr)
        return 2
    prefix = f"iisfleet-bench:{uuid.uuid4().hex[:8]}:"
    port = _free_port("127.0.0.1")
    state = Path(tempfile.mkdtemp(prefix="iisfleet-bench-console-"))
    env = {**os.environ, "CONTROLLER_REDIS_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
    log = (state / "controller.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "iisfleet", "controller", "run", "--state-dir", str(state),
                             "--address", "127.0.0.1", "--port", str(port), "--redis-url", redis_url],
                            cwd=REPO, env=env, stdout=log, stderr=log)
    url = f"https://127.0.0.1:{port}"
    results: dict[int, dict[str, float]] = {}
    try:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/api/enroll/ca", context=context, timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        with chromium() as driver:
            for count in counts:
                token = asyncio.run(_seed(redis_url, prefix, count))
                driver.get(url + "/")
                driver.execute_async_script(
                    "const done = arguments[arguments.length - 1];"
                    "fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'},"
                    " body: JSON.stringify({token: arguments[0]})}).then((r) => done(r.status));", token)
                results[count] = _measure(driver, url, args.samples)
                screenshot(driver, f"bench-fleet-{count}")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        from controller.app import open_redis
        from controller.store import FleetStore

        async def clear() -> None:
            redis = open_redis(redis_url)
            await FleetStore(redis, prefix).clear()
            await redis.aclose()

        asyncio.run(clear())
    base = results[counts[0]]
    print(f"| agents | rows | painted ms | data ms | DOM build ms | layout + paint ms | vs {counts[0]} agents |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count, row in results.items():
        ratio = row["painted_ms"] / base["painted_ms"]
        print(f"| {count:,} | {int(row['rows']):,} | {row['painted_ms']:.0f} | {row['data_ms']:.0f} | "
              f"{row['dom_ms']:.0f} | {row['paint_ms']:.0f} | x{ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
