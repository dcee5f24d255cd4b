"""Benchmark (issue 11): static 1 KiB throughput with every pipeline module registered vs. the stock modules.

One embedded host (real supervisor and worker processes) serves a 1 KiB file on a fresh 127.0.0.x address.
wrk measures it with the modules the host had before issue 11 as the `<modules>` list ("stock"), then with
every module the host implements (their sections at the stock file's values: Basic off, no IP entries, no trace
rules, compression on but 1 KiB is under minFileSizeForComp, ...), alternating
ROUNDS times in the same run, and prints req/s per configuration and the ratio all/stock. The supervisor's
kernel response cache is off (IISFLEET_KERNEL_CACHE=0) so every request runs the worker pipeline; with it on
the 1 KiB file never reaches a worker and the modules cost nothing.

    .venv/bin/python bench/embedded_modules.py [--duration 8] [--connections 32] [--rounds 2]

Needs `wrk` on PATH (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["IISFLEET_KERNEL_CACHE"] = "0"

from agent.hosting.embedded.supervisor.host import EmbeddedHost  # noqa: E402
from agent.hosting.embedded.worker.registry import MODULES  # noqa: E402
from tests.agent.hosting.support import free_port, loopback, make_store  # noqa: E402

MODULES_SECTION = "system.webServer/modules"
# The modules the host implemented before issue 11: the baseline.
BASELINE = ("RequestFilteringModule", "RewriteModule", "AnonymousAuthenticationModule", "DefaultDocumentModule",
            "DirectoryListingModule", "StaticFileModule", "ProtocolSupportModule", "HttpLoggingModule")  # fmt: skip


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    """Requests per second and the request count wrk reports for `url`."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if found is None or count is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(found.group(1)), int(count.group(1))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the supervisor (this process) and the workers so far."""
    total = 0.0
    for pid in [os.getpid(), *pids]:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def warm_up(url: str) -> None:
    """A few requests so the worker loads the new configuration and modules before wrk starts."""
    for _ in range(50):
        with urllib.request.urlopen(url) as resp:  # noqa: S310 - a loopback URL built here
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status}")
            resp.read()


def set_modules(store: object, names: list[str]) -> None:
    """Make the server-level <modules> list name exactly `names`."""
    with store.write_sync() as cfg:  # type: ignore[attr-defined]
        for location in ("", None):
            collection = cfg.section(MODULES_SECTION, location).collection()
            collection.clear()
        for name in names:
            cfg.section(MODULES_SECTION, "").collection().add(name=name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="iisfleet-bench-") as tmp:
        root = Path(tmp)
        address, content = loopback(), root / "www"
        content.mkdir()
        (content / "small.html").write_bytes(b"x" * 1024)
        port = free_port(address)
        store = make_store(root, port, content)
        stock = list(BASELINE)
        everything = list(MODULES)
        host = EmbeddedHost(store, root, address, poll_interval=0.2)
        await host.start()
        url = f"http://{address}:{port}/small.html"
        results: dict[str, list[float]] = {"stock": [], "all": []}
        cpu: dict[str, list[float]] = {"stock": [], "all": []}
        try:
            for _ in range(args.rounds):
                for label, names in (("stock", stock), ("all", everything)):
                    set_modules(store, names)
                    await host.tick()
                    await asyncio.to_thread(warm_up, url)
                    pids = [w.pid for w in host.snapshot().pools["DefaultAppPool"].workers if w.state == "running"]
                    before = cpu_seconds(pids)
                    rate, count = await asyncio.to_thread(wrk, url, args.duration, args.connections)
                    per_request = (cpu_seconds(pids) - before) / count * 1e6
                    results[label].append(rate)
                    cpu[label].append(per_request)
                    print(f"{label:>5}: {rate:,.0f} req/s, {per_request:.0f} us server CPU per request", flush=True)
        finally:
            await host.close()
    stock_rate, all_rate = statistics.median(results["stock"]), statistics.median(results["all"])
    added = ", ".join(n for n in everything if n not in stock)
    print(f"modules: stock {len(stock)} vs all {len(everything)} (+ {added})")
    print(f"median req/s: stock {stock_rate:,.0f}, all {all_rate:,.0f}, ratio all/stock {all_rate / stock_rate:.3f}")
    stock_cpu, all_cpu = statistics.median(cpu["stock"]), statistics.median(cpu["all"])
    print(f"median server CPU per request: stock {stock_cpu:.0f} us, all {all_cpu:.0f} us, "
          f"ratio all/stock {all_cpu / stock_cpu:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
