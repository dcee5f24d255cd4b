"""Benchmark: fleet-job fan-out against a sequential loop and a loop 5 at a time, over the same agents.

A real controller, Redis and Celery worker (16 threads); the agents are stand-ins (bench/jobs_standin.py:
real enrollment and mTLS, canned IIS answers) because 100 real agents do not fit on a 2-core machine. Each
stand-in answers after --delay seconds (a recycle after --recycle-delay), standing for a remote host. Two
operations: a read (`iis.request GET /api/webserver/websites`) and `pool.recycle` (PATCH + verification).
The loops make the same calls through the controller's gateway with one keep-alive session. Each time is
the median of --rounds runs; T(N)/T(1) says how the time grows with the fleet. CPU per step is the worker's
plus the controller's CPU time (psutil) over the job runs, divided by the steps run; "client CPU/call" is
this process's CPU per call of the 5-wide loop, i.e. what one HTTPS call costs a client.

    .venv/bin/python bench/jobs_fanout.py [--sizes 1,10,50,100] [--rounds 3] [--delay 0.05] [--recycle-delay 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iisfleet.client.http import Controller  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        from shared.redis_url import start_embedded

        location = start_embedded(Path(tempfile.mkdtemp(prefix="bench-redis-")))
        _KEEP.append(location)
        return location.url


_KEEP: list[Any] = []


def _wait(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def _job_seconds(api: Controller, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    job = api.call("POST", "/api/jobs", body)
    for event in api.events(job["id"]):
        if event["type"] == "job.finished":
            if event["status"] != "succeeded":
                raise SystemExit(f"job failed: {api.call('GET', '/api/jobs/' + job['id'])}")
            break
    return time.perf_counter() - started


def _profile(path: str, op: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker (its CPU only: idle threads are not sampled) until SIGINT."""
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format",
                            "raw", "--rate", "500", "--nonblocking", "-o", f"{path}.{op}.txt"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first job
    return spy


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        process = psutil.Process(pid)
        for proc in (process, *process.children(recursive=True)):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


CLIENT_CPU: list[float] = []


async def _loop_seconds(api: Controller, ids: list[str], op: str, width: int) -> float:
    context = ssl.create_default_context(cafile=api.cafile)
    limit = asyncio.Semaphore(width)
    headers = {"Authorization": f"Bearer {api.token}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=context)) as session:

        async def one(agent_id: str) -> None:
            base = f"{api.url}/api/agents/{agent_id}/iis/api/webserver"
            async with limit:
                if op == "read":
                    async with session.get(f"{base}/websites") as response:
                        assert response.status == 200
                        await response.read()
                    return
                async with session.patch(f"{base}/application-pools/p1", json={"status": "recycling"}) as response:
                    assert response.status == 200
                for path in ("application-pools/p1", "worker-processes?application_pool.id=p1"):
                    async with session.get(f"{base}/{path}") as response:
                        assert response.status == 200
                        await response.read()

        await one(ids[0])  # warm the connection, as the job's worker has warm processes
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(agent_id) for agent_id in ids))
        if width > 1:
            CLIENT_CPU.append((time.process_time() - cpu) / len(ids))
        return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50,100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--recycle-delay", type=float, default=0.3)
    parser.add_argument("--ops", default="read,recycle", help="which operations (comma-separated)")
    parser.add_argument("--profile", default="", help="py-spy raw profile of the worker during the largest jobs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    redis_url = _redis_url()
    prefix = f"bench-fanout:{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "CONTROLLER_REDIS_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    state = tmp / "controller"
    cli = [sys.executable, "-m", "iisfleet"]
    common = ["--state-dir", str(state), "--redis-url", redis_url]
    procs: list[subprocess.Popen[bytes]] = []

    def start(label: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(tmp / f"{label}.log", "ab") as log:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log if label != "standins" else subprocess.PIPE,
                                    stderr=log)
        procs.append(proc)
        return proc

    try:
        start("controller", [*cli, "controller", "run", *common, "--address", "127.0.0.1", "--port", str(port)])
        cafile = state / "pki" / "ca.crt"
        _wait("the CA", cafile.exists)
        token = subprocess.run([*cli, "controller", "key", "create", *common, "--purpose", "bench",
                                "--role", "admin"], cwd=REPO, env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        api = Controller(f"https://127.0.0.1:{port}", token, str(cafile))
        _wait("the controller", lambda: api.call("GET", "/openapi.json"))
        worker = start("worker", [*cli, "worker", "run", *common])
        count = max(sizes)
        tokens = [api.call("POST", "/api/join-tokens", {"labels": {"bench": "1"}})["token"] for _ in range(count)]
        (tmp / "tokens").write_text("\n".join(tokens))
        standins = start("standins", [sys.executable, str(REPO / "bench/jobs_standin.py"), api.url, str(tmp / "tokens"),
                                      str(tmp / "standins"), str(args.delay), str(args.recycle_delay)])
        assert standins.stdout is not None
        print("stand-ins:", standins.stdout.readline().decode().strip(), flush=True)
        ids = [a["id"] for a in sorted(api.call("GET", "/api/agents")["agents"], key=lambda a: a["name"])]
        ops = {
            "read": ("iis.request", {"method": "GET", "path": "/api/webserver/websites"}),
            "recycle": ("pool.recycle", {"name": "shop"}),
        }
        _job_seconds(api, {"action": ops["read"][0], "target": {"agents": ids[:1]}, "params": ops["read"][1]})
        server_pids = [procs[0].pid, worker.pid]
        rows: dict[tuple[str, int], dict[str, float]] = {}
        for op, (action, params) in ops.items():
            if op not in args.ops.split(","):
                continue
            for n in sizes:
                body = {"action": action, "target": {"agents": ids[:n]}, "params": params}
                spy = _profile(args.profile, op, worker.pid) if args.profile and n == max(sizes) else None
                cpu, worker_cpu = _cpu(server_pids), _cpu([worker.pid])
                job = statistics.median(_job_seconds(api, body) for _ in range(args.rounds))
                total, worker_total = _cpu(server_pids) - cpu, _cpu([worker.pid]) - worker_cpu
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)
                rows[(op, n)] = {
                    "job": job,
                    "cpu_ms": total * 1000 / (n * args.rounds),
                    "worker_ms": worker_total * 1000 / (n * args.rounds),
                    "controller_ms": (total - worker_total) * 1000 / (n * args.rounds),
                    "cpu_job_s": total / args.rounds,
                    "seq": statistics.median(asyncio.run(_loop_seconds(api, ids[:n], op, 1))
                                             for _ in range(args.rounds)),
                    "par5": statistics.median(asyncio.run(_loop_seconds(api, ids[:n], op, 5))
                                              for _ in range(args.rounds)),
                }
        print(f"\n{'op':<8} {'N':>3} | {'job s':>7} {'T(N)/T(1)':>9} {'CPU ms/step':>11} | {'seq s':>7} "
              f"{'T(N)/T(1)':>9} | {'5-wide s':>8} {'T(N)/T(1)':>9}")
        for (op, n), row in rows.items():
            base = rows[(op, sizes[0])]
            print(f"{op:<8} {n:>3} | {row['job']:7.3f} {row['job'] / base['job']:9.2f} {row['cpu_ms']:11.2f} | "
                  f"{row['seq']:7.3f} {row['seq'] / base['seq']:9.2f} | {row['par5']:8.3f} "
                  f"{row['par5'] / base['par5']:9.2f}")
        print(f"client CPU per call (5-wide loop, median): {statistics.median(CLIENT_CPU) * 1000:.2f} ms")
        # A step's own CPU: what N steps cost beyond one, per extra step (the per-job fixed cost cancels out).
        for op in {op for op, _n in rows}:
            small, large = rows[(op, sizes[0])], rows[(op, sizes[-1])]
            if sizes[-1] > sizes[0]:
                marginal = (large["cpu_job_s"] - small["cpu_job_s"]) * 1000 / (sizes[-1] - sizes[0])
                print(f"{op}: CPU per extra step (worker + controller), N={sizes[0]} -> {sizes[-1]}: "
                      f"{marginal:.2f} ms; at N={sizes[-1]} worker {large['worker_ms']:.2f} + controller "
                      f"{large['controller_ms']:.2f} ms/step")
        print(json.dumps({f"{op}/{n}": row for (op, n), row in rows.items()}))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        import redis as redis_sync

        if not redis_url.startswith("unix://"):
            client = redis_sync.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
        for location in _KEEP:
            location.close()


if __name__ == "__main__":
    main()
