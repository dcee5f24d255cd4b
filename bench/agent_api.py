"""Benchmark: the agent's site API with 10, 1,000 and 10,000 sites, against a raw aiohttp JSON endpoint.

Both servers run in their own process on plain HTTP over loopback (same transport, so the ratio is the
cost of the agent's own work: auth, config lookups, rendering). The raw endpoint returns a precomputed
body of the same size as the agent's answer.

    .venv/bin/python bench/agent_api.py [--sites 10,1000,10000] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(state: Path, count: int) -> None:
    from agent.app import open_config_store

    content = state / "inetpub" / "wwwroot"
    store = open_config_store(state)
    with store.write_sync():
        sites = store.section("system.applicationHost/sites").collection()
        for n in range(2, count + 1):
            site = sites.add({"name": f"site{n}", "id": n})
            site.collection("bindings").add({"protocol": "http", "bindingInformation": f"*:{10000 + n}:"})
            app = site.collection().add({"path": "/", "applicationPool": "DefaultAppPool"})
            app.collection().add({"path": "/", "physicalPath": str(content)})


def _serve_agent(state: str, port: int) -> None:
    from agent.app import build_app
    from agent.settings import load_settings

    app = build_app(Path(state), load_settings(Path(state) / "appsettings.json"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _serve_raw(port: int, one: bytes, many: bytes) -> None:
    async def get_one(request: web.Request) -> web.Response:
        return web.Response(body=one, content_type="application/json")

    async def get_many(request: web.Request) -> web.Response:
        return web.Response(body=many, content_type="application/json")

    async def post_one(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=one, status=201, content_type="application/json")

    app = web.Application()
    app.router.add_get("/one", get_one)
    app.router.add_get("/many", get_many)
    app.router.add_post("/one", post_one)
    app.router.add_patch("/one", post_one)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _wait(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def _time(session: aiohttp.ClientSession, requests: list[tuple[str, str, Any]], headers: dict[str, str],
                ok: int) -> float:
    samples = []
    for method, url, body in requests:
        start = time.perf_counter()
        async with session.request(method, url, json=body, headers=headers) as response:
            await response.read()
            if response.status != ok:
                raise RuntimeError(f"{method} {url} answered {response.status}")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


async def _measure(count: int, requests: int) -> dict[str, Any]:
    from agent.security.api_key_store import ApiKeyStore
    from agent.settings import load_settings

    state = Path(tempfile.mkdtemp(prefix=f"bench-sites-{count}-"))
    load_settings(state / "appsettings.json")
    _seed(state, count)
    _key, token = ApiKeyStore(state / "api-keys.json").create("bench", None)
    agent_port, raw_port = _free_port(), _free_port()
    agent = multiprocessing.Process(target=_serve_agent, args=(str(state), agent_port), daemon=True)
    agent.start()
    base = f"http://127.0.0.1:{agent_port}"
    headers = {"Access-Token": f"Bearer {token}"}
    try:
        await _wait(f"{base}/api/ping")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/webserver/websites", headers=headers) as response:
                listing = await response.read()
            ids = [s["id"] for s in json.loads(listing)["websites"]]
            async with session.get(f"{base}/api/webserver/websites/{ids[-1]}", headers=headers) as response:
                one = await response.read()
            raw = multiprocessing.Process(target=_serve_raw, args=(raw_port, one, listing), daemon=True)
            raw.start()
            raw_base = f"http://127.0.0.1:{raw_port}"
            await _wait(f"{raw_base}/one")
            picks = [ids[(i * 7919) % len(ids)] for i in range(requests)]
            list_n = max(5, min(requests, 2_000_000 // max(len(listing), 1)))
            writes = max(20, requests // 10)
            content = str(state / "inetpub" / "wwwroot")
            results = {
                "get_site": await _time(session, [("GET", f"{base}/api/webserver/websites/{i}", None) for i in picks],
                                        headers, 200),
                "get_site_raw": await _time(session, [("GET", f"{raw_base}/one", None)] * requests, {}, 200),
                "list_sites": await _time(session, [("GET", f"{base}/api/webserver/websites", None)] * list_n,
                                          headers, 200),
                "list_sites_raw": await _time(session, [("GET", f"{raw_base}/many", None)] * list_n, {}, 200),
                "create_site": await _time(session, [
                    ("POST", f"{base}/api/webserver/websites",
                     {"name": f"new{i}", "physical_path": content,
                      "bindings": [{"ip_address": "*", "port": 40000 + i, "protocol": "http"}]})
                    for i in range(writes)], headers, 201),
                "create_site_raw": await _time(session, [("POST", f"{raw_base}/one", {"name": "x"})] * writes, {}, 201),
                "patch_site": await _time(session, [
                    ("PATCH", f"{base}/api/webserver/websites/{picks[i]}", {"server_auto_start": bool(i % 2)})
                    for i in range(writes)], headers, 200),
                "patch_site_raw": await _time(session, [("PATCH", f"{raw_base}/one", {"x": 1})] * writes, {}, 201),
            }
            raw.terminate()
            raw.join(5)
    finally:
        agent.terminate()
        agent.join(10)
    return {"sites": count, "config_bytes": (state / "applicationHost.config").stat().st_size, **results}


def main() -> None:
    """Run every size and print a Markdown table of medians and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", default="10,1000,10000")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    rows = [asyncio.run(_measure(int(n), args.requests)) for n in args.sites.split(",")]
    print("| sites | config | GET site ms (raw) ratio | list ms (raw) ratio | create ms (raw) ratio "
          "| patch ms (raw) ratio |")
    print("|---:|---:|---|---|---|---|")
    for row in rows:
        cells = []
        for op in ("get_site", "list_sites", "create_site", "patch_site"):
            cells.append(f"{row[op]:.2f} ({row[op + '_raw']:.2f}) x{row[op] / row[op + '_raw']:.1f}")
        print(f"| {row['sites']:,} | {row['config_bytes'] / 1024:,.0f} KiB | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
