"""200 agents enroll at once: processes (a multiprocessing pool) run the real enrollment code against a real controller.

Usage: .venv/bin/python bench/controller_enroll.py [--agents 200] [--procs 50] [--controller-only]
Starts a controller process (local Redis on 6379 if it answers, else the embedded one), makes the join tokens
with the CLI's code, then every worker process enrolls one agent (key, CSR, API key, pinned CA, POST /api/enroll).
Prints wall time, per-enrollment latency percentiles and failures. Not a test; results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local_redis() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return "redis://127.0.0.1:6379/0" if sock.recv(16).startswith(b"+PONG") else None
    except OSError:
        return None


def _enroll_one(job: tuple[str, str, str, int]) -> tuple[bool, float, str]:
    """Worker: enroll one agent with the real agent code; (ok, seconds, error)."""
    from agent.enrollment import ensure_enrolled, gather_facts

    controller_url, token, base, index = job
    started = time.perf_counter()
    try:
        asyncio.run(
            ensure_enrolled(
                Path(base) / f"agent{index}",
                controller_url,
                token,
                name=f"bench-{index}",
                url=f"https://127.0.1.{index % 250 + 1}:55539",
                facts=gather_facts(),
            )
        )
        return True, time.perf_counter() - started, ""
    except Exception as err:  # noqa: BLE001 - a benchmark counts failures instead of stopping
        return False, time.perf_counter() - started, f"{type(err).__name__}: {err}"


async def _storm(url: str, cafile: str, tokens: list[str], width: int) -> list[tuple[bool, float, str]]:
    """The controller's side alone: every agent's key, CSR and API key made first, then all POSTs at once.

    On a real fleet each agent does its own crypto on its own CPU; here 1,000 agents share two cores, so the
    full mode above mostly measures the agents. This mode measures what the controller takes.
    """
    import secrets as secrets_mod

    import aiohttp

    from agent.enrollment import gather_facts, new_identity, split_join_token
    from shared.models import EnrollRequest

    facts = gather_facts()
    bodies = []
    for index, token in enumerate(tokens):
        secret, _pin = split_join_token(token)
        _key, csr = new_identity(f"bench-{index}")
        bodies.append(EnrollRequest(token=secret, name=f"bench-{index}", url=f"https://127.0.1.{index % 250 + 1}:55539",
                                    csr=csr, api_key=secrets_mod.token_urlsafe(32), facts=facts).model_dump_json())
    context = ssl.create_default_context(cafile=cafile)
    limit = asyncio.Semaphore(width)
    results: list[tuple[bool, float, str]] = []
    connector = aiohttp.TCPConnector(ssl=context, limit=width, force_close=True)  # one TLS handshake each
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: str) -> None:
            async with limit:
                started = time.perf_counter()
                async with session.post(f"{url}/api/enroll", data=body,
                                        headers={"Content-Type": "application/json"}) as response:
                    text = await response.text()
                ok = response.status == 201
                results.append((ok, time.perf_counter() - started, "" if ok else f"{response.status} {text[:200]}"))

        started = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        results.append((True, time.perf_counter() - started, "wall"))
    return results


def main() -> int:
    """Run the benchmark and print its results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--procs", type=int, default=50)
    parser.add_argument("--controller-only", action="store_true",
                        help="prepare every agent's crypto first, then send all enrollments at once")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-enroll-"))
    state, port, redis_url = tmp / "controller", _free_port(), _local_redis()
    prefix = f"iisfleet-bench:{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "CONTROLLER_REDIS_PREFIX": prefix}
    redis_args = ["--redis-url", redis_url] if redis_url else []
    with open(tmp / "controller.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "iisfleet",
                "controller",
                "run",
                "--state-dir",
                str(state),
                "--address",
                "127.0.0.1",
                "--port",
                str(port),
                *redis_args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                context = ssl.create_default_context(cafile=str(state / "pki" / "ca.crt"))
                urllib.request.urlopen(f"{url}/api/enroll/ca", context=context, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        tokens = subprocess.run(
            [sys.executable, "-c", _TOKENS, str(state), redis_url or "", prefix, str(args.agents)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        jobs = [(url, token, str(tmp), i) for i, token in enumerate(tokens)]
        import psutil

        import agent.enrollment  # noqa: F401 - imported before fork so workers do not each pay for it
        import agent.security.api_key_store  # noqa: F401

        controller = psutil.Process(proc.pid)
        cpu_before = sum(controller.cpu_times()[:2])
        started = time.perf_counter()
        if args.controller_only:
            results = asyncio.run(_storm(url, str(state / "pki" / "ca.crt"), tokens, args.procs))
            wall = results.pop()[1]  # the POSTs only; preparing the agents' crypto is not the controller's time
        else:
            with multiprocessing.get_context("fork").Pool(args.procs) as pool:
                results = pool.map(_enroll_one, jobs, chunksize=1)
            wall = time.perf_counter() - started
        controller_cpu = sum(controller.cpu_times()[:2]) - cpu_before
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
    latencies = sorted(seconds for ok, seconds, _ in results if ok)
    failures = [error for ok, _, error in results if not ok]

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    print(
        f"controller_enroll: {args.agents} agents, {args.procs} processes, redis={'local' if redis_url else 'embedded'}"
    )
    print(f"  wall time        {wall:.2f} s  ({args.agents / wall:.1f} enrollments/s)")
    print(f"  latency p50/p95/max  {pct(0.5) * 1000:.0f} / {pct(0.95) * 1000:.0f} / {pct(1.0) * 1000:.0f} ms")
    print(f"  controller CPU   {controller_cpu:.2f} s  ({controller_cpu / args.agents * 1000:.1f} ms per enrollment;"
          " the rest of the machine's time is the agents' side: keys, CSR, API-key hashing, TLS)")
    print(f"  failures         {len(failures)}")
    for error in sorted(set(failures))[:5]:
        print(f"    {error}")
    return 0 if not failures else 1


_TOKENS = """
import asyncio, sys
from pathlib import Path
from controller.app import open_redis
from controller.pki import CertificateAuthority
from controller.services.credentials import create_join_token
from controller.settings import load_settings
from controller.server import redis_for_tools
from controller.store import FleetStore
state, url, prefix, count = Path(sys.argv[1]), sys.argv[2] or None, sys.argv[3], int(sys.argv[4])
settings = load_settings(state, redis_url=url)
pin = CertificateAuthority(settings.pki_dir).fingerprint
async def go():
    location = redis_for_tools(settings)
    redis = open_redis(location.url)
    store = FleetStore(redis, prefix)
    for _ in range(count):
        print(await create_join_token(store, {"bench": "yes"}, 600, pin))
    await redis.aclose()
    location.close()
asyncio.run(go())
"""

if __name__ == "__main__":
    sys.exit(main())
