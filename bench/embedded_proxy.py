"""Throughput of the embedded host: through the supervisor (proxy) vs straight to the worker's unix socket.

Run: .venv/bin/python -m bench.embedded_proxy  (prints requests/s for a small and a 1 MiB static file)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from agent.hosting.embedded.supervisor.host import EmbeddedHost
from tests.agent.hosting.support import free_port, loopback, make_store

REQUESTS = 3000
CONCURRENCY = 50


async def _run(session: aiohttp.ClientSession, url: str, headers: dict[str, str], count: int) -> float:
    queue = iter(range(count))

    async def loop() -> None:
        for _ in queue:
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def main() -> None:
    """Measure and print."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        address = loopback()
        port = free_port(address)
        store = make_store(root, port, root / "www")
        (root / "www" / "small.html").write_text("x" * 1024)
        (root / "www" / "big.bin").write_bytes(b"x" * (1 << 20))
        host = EmbeddedHost(store, root, address)
        await host.start()
        try:
            async with aiohttp.ClientSession() as session:
                await _run(session, f"http://{address}:{port}/small.html", {}, 200)
                worker = host.pools["defaultapppool"].workers[0]
                direct = aiohttp.UnixConnector(path=str(worker.socket_path))
                async with aiohttp.ClientSession(connector=direct) as unix:
                    hdr = {"X-IISFleet-Site": "Default Web Site", "Host": "x"}
                    for name, count in (("small.html", REQUESTS), ("big.bin", 300)):
                        proxied = await _run(session, f"http://{address}:{port}/{name}", {}, count)
                        straight = await _run(unix, f"http://worker/{name}", hdr, count)
                        print(
                            f"{name:>10}: via supervisor {proxied:7.0f} req/s | direct to worker {straight:7.0f} req/s"
                        )
        finally:
            await host.close()


if __name__ == "__main__":
    asyncio.run(main())
