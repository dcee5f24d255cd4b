"""Benchmark (issue 3): static files from the embedded host of a real agent vs nginx on the same folder.

What it measures, in one run, one server at a time (never both at once, so each gets the same 2 cores):

1. Throughput of a 1 KiB and a 1 MiB static file with wrk (`-t2 -c50 -d10s` by default): req/s, MB/s,
   p50/p99 latency, and the ratio embedded/nginx. The embedded host is a real `iisfleet agent run` whose
   DefaultAppPool gets processModel maxProcesses=N through the API; nginx (the Debian package) runs from
   a generated config with `worker_processes N`, `sendfile on`, `access_log off`. Both serve the same folder
   inside the agent's state dir (D/inetpub/bench). Each row also shows the CPU seconds the server's
   processes (supervisor / workers, nginx master / workers) and wrk burned during the run.
2. The latency of the supervisor hop: the same request sent one at a time on one keep-alive connection by
   the same small Python client, via the site binding (client -> supervisor -> worker) and straight to the
   worker's unix socket (what the supervisor itself does); p50/p99 of both and the difference. nginx's
   latency with that client is printed next to them for scale.
3. The same wrk runs against bench/python_floor_server.py (`--floor on`, the default): the least any CPython
   static-file server does per request, with the same process count. Its ratio to nginx is the ceiling for a
   Python data plane on this machine; the embedded host's distance to it is its own per-request work.
4. The RSS (and USS: pages private to the process) of an idle worker after the runs and a few idle seconds,
   next to an idle nginx worker (nginx workers are forked from the master, so most of their RSS is shared).

Workers take keep-alive connections over from the supervisor (the connection handoff), and with the kernel
response cache on (the default) each answers both files from its own copy of that cache after its first
request for them (worker/direct_cache.py; the 1 MiB one as a file entry, sent with sendfile). `--kernel-cache
off` starts the agent with IISFLEET_KERNEL_CACHE=0: no response is kept, and a worker's URI cache answers a
repeat from the head the pipeline built for the file and the file's bytes read (1 KiB) or sent (1 MiB) on
every request, as IIS's worker does with its kernel cache off (run once with each to compare). `--handoff off`
(IISFLEET_CONNECTION_HANDOFF=0) keeps every connection on the supervisor's relay, where the supervisor's own
cache answers hits and, with it off, the module pipeline answers every request.

With `--profile`, an extra (unmeasured) 1 KiB wrk run is sampled by py-spy on the supervisor and on one
worker (`.venv/bin/pip install py-spy`), and the top functions by own and inclusive time are printed.

Everything listens on a fresh 127.0.0.x address; every process started here is stopped by pid.

    .venv/bin/python bench/embedded_vs_nginx.py [--workers 2] [--duration 10] [--connections 50] [--profile]
                                                [--kernel-cache on|off]

Needs `nginx` and `wrk` on PATH (`apt-get install -y nginx wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
FILES = {"1 KiB": ("small.html", 1024), "1 MiB": ("big.bin", 1 << 20)}
SITE_NAME = "bench"
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"bytes\":%.0f,\"duration_us\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f," ..
    "\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}\n",
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# -- small helpers ---------------------------------------------------------------------------------------
def free_port(address: str) -> int:
    """A port nothing listens on at `address` right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check()` every 0.1 s until true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.1)


def listening(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) == 0


def stop_pid(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop one process we started, by its pid; SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot."""
    times = psutil.cpu_times()
    return float(
        sum(times)
        - times.idle
        - getattr(times, "iowait", 0.0)
        - getattr(times, "guest", 0.0)
        - getattr(times, "guest_nice", 0.0)
    )


def wait_for_quiet(limit: float) -> None:
    """Wait (bounded) until the machine is mostly idle, so other jobs do not skew one server's numbers."""
    deadline = time.monotonic() + limit
    while (load := psutil.cpu_percent(interval=1.0)) > 15:
        procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.cpu_percent()
        time.sleep(1)
        busiest = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                busiest.append((proc.cpu_percent(), proc.pid, " ".join(proc.info["cmdline"] or [proc.info["name"]])))
        top = ", ".join(f"{pid} ({cpu:.0f}%: {cmd[:60]})" for cpu, pid, cmd in sorted(busiest, reverse=True)[:2])
        if time.monotonic() > deadline:
            print(f"warning: measuring on a busy machine ({load:.0f}% CPU busy; busiest: {top})", file=sys.stderr)
            return
        print(f"waiting for a quiet machine: {load:.0f}% CPU busy; busiest: {top}", file=sys.stderr)


def memory(pid: int) -> tuple[int, int]:
    """(RSS, USS) in bytes."""
    info = psutil.Process(pid).memory_full_info()
    return int(info.rss), int(info.uss)


# -- wrk ---------------------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    rps: float
    mbps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)


class Wrk:
    """Runs wrk with a Lua `done` hook that prints the summary as JSON."""

    def __init__(self, workdir: Path, threads: int, connections: int) -> None:
        self.script = workdir / "report.lua"
        self.script.write_text(WRK_LUA)
        self.threads = threads
        self.connections = connections

    def run(self, url: str, seconds: float, watch: dict[str, list[int]] | None = None,
            headers: tuple[str, ...] = ()) -> WrkResult:  # fmt: skip
        watch = watch or {}
        before = {name: cpu_seconds(pids) for name, pids in watch.items()}
        busy = machine_busy()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds:g}s", "--timeout", "10s",
             "-s", str(self.script), *[arg for h in headers for arg in ("-H", h)], url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {name: cpu_seconds(pids) - before[name] for name, pids in watch.items()}
        cpu["wrk"] = (after_children.ru_utime - children.ru_utime) + (after_children.ru_stime - children.ru_stime)
        # CPU that neither the server nor wrk used: other load on the machine skews the comparison.
        cpu["other"] = max(0.0, machine_busy() - busy - sum(cpu.values()))
        match = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
        if match is None:
            raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
        data = json.loads(match.group(1))
        seconds_run = data["duration_us"] / 1e6
        errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
        return WrkResult(data["requests"] / seconds_run, data["bytes"] / seconds_run / 1e6,
                         data["p50_us"] / 1000, data["p99_us"] / 1000, errors, cpu)  # fmt: skip


# -- a one-request-at-a-time client (TCP or unix socket) ----------------------------------------------------
class SerialClient:
    """HTTP/1.1 keep-alive GETs on one connection, one at a time; returns per-request seconds."""

    def __init__(self, target: tuple[str, int] | str, headers: dict[str, str]) -> None:
        if isinstance(target, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(10)
        self.sock.connect(target)
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.buf = bytearray(4 << 20)
        self.view = memoryview(self.buf)

    def close(self) -> None:
        self.sock.close()

    def get(self, path: str) -> float:
        request = f"GET {path} HTTP/1.1\r\n{self.headers}\r\n".encode("latin-1")
        started = time.perf_counter()
        self.sock.sendall(request)
        have = 0
        while True:
            n = self.sock.recv_into(self.view[have:])
            if not n:
                raise ConnectionError("server closed the connection")
            have += n
            end = self.buf.find(b"\r\n\r\n", 0, have)
            if end >= 0:
                break
        head = bytes(self.buf[:end]).decode("latin-1")
        status = head.split(" ", 2)[1]
        match = re.search(r"(?im)^content-length:\s*(\d+)", head)
        if status != "200" or match is None:
            raise RuntimeError(f"unexpected response to {path}: {head!r}")
        total = end + 4 + int(match.group(1))
        while have < total:
            n = self.sock.recv_into(self.view[have:])
            if not n:
                raise ConnectionError("server closed the connection mid-body")
            have += n
        elapsed = time.perf_counter() - started
        if have != total:
            raise RuntimeError("pipelined bytes after the response")
        return elapsed


def serial_latency(target: tuple[str, int] | str, headers: dict[str, str], path: str, count: int) -> list[float]:
    client = SerialClient(target, headers)
    try:
        for _ in range(min(50, count)):
            client.get(path)
        return [client.get(path) for _ in range(count)]
    finally:
        client.close()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


# -- the agent (embedded host) --------------------------------------------------------------------------------
class Agent:
    """`iisfleet agent run` on a fresh state dir, and its API over HTTPS."""

    def __init__(self, workdir: Path, address: str, kernel_cache: bool = True, uvloop: bool = True,
                 handoff: bool = True) -> None:  # fmt: skip
        self.kernel_cache = kernel_cache
        self.handoff = handoff
        self.uvloop = uvloop
        self.state = workdir / "agent-state"
        self.address = address
        self.port = free_port(address)
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.ssl: ssl.SSLContext | None = None
        self.log = (workdir / "agent.log").open("wb")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "iisfleet", "agent", *args], cwd=ROOT, check=True,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iisfleet", "agent", "run", "--state-dir", str(self.state),
             "--address", self.address, "--port", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "IISFLEET_KERNEL_CACHE": "1" if self.kernel_cache else "0",
                 "IISFLEET_UVLOOP": "1" if self.uvloop else "0",
                 "IISFLEET_CONNECTION_HANDOFF": "1" if self.handoff else "0"},
        )  # fmt: skip
        wait_until("agent API", lambda: (self.state / "certs" / "agent.crt").exists()
                   and listening(self.address, self.port), 60, self.proc)  # fmt: skip
        self.token = self.cli("key", "create", "--state-dir", str(self.state), "--purpose", "bench").stdout.strip()
        self.ssl = ssl.create_default_context(cafile=str(self.state / "certs" / "agent.crt"))
        self.ssl.check_hostname = False  # the chain is still verified against the agent's own certificate

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"https://{self.address}:{self.port}{path}", data=data, method=method,
            headers={"Access-Token": f"Bearer {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, context=self.ssl, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def workers(self) -> list[int]:
        """Pids of the running worker processes: the agent's children or, forked, its zygote's."""
        zygote = self.zygote()
        pids = []
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "agent.hosting.embedded.worker" in " ".join(child.cmdline()) and child.pid != zygote:
                        pids.append(child.pid)
        return sorted(pids)

    def zygote(self) -> int:
        """Pid of the worker zygote (the fork server), 0 when workers are exec'd."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children():
                with contextlib.suppress(psutil.Error):
                    if "agent.hosting.embedded.worker.zygote" in " ".join(child.cmdline()):
                        return int(child.pid)
        return 0

    def stop(self) -> None:
        if self.proc is None:
            return
        workers = self.workers() + ([self.zygote()] if self.zygote() else [])
        run_dirs = set()
        for pid in workers:
            with contextlib.suppress(psutil.Error, RuntimeError):
                run_dirs.add(Path(worker_socket(pid)).parent)
        stop_pid(self.proc)
        for pid in workers:  # they die with the agent (PDEATHSIG); make sure, by pid
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                proc.kill()
                proc.wait(5)
        for run_dir in run_dirs:  # the agent's own temp dir for worker sockets, if it left it behind
            if run_dir.name.startswith("iisfleet-") and run_dir.exists():
                print(f"note: the agent left {run_dir} behind; removing it", file=sys.stderr)
                shutil.rmtree(run_dir, ignore_errors=True)
        self.log.close()


def worker_socket(pid: int) -> str:
    """The unix socket path the worker listens on (bound by the supervisor, inherited by the worker)."""
    for conn in psutil.Process(pid).net_connections(kind="unix"):
        path = str(conn.laddr)
        if path.endswith(".sock") and conn.status in ("LISTEN", psutil.CONN_NONE):
            return path
    raise RuntimeError(f"no listening unix socket for worker {pid}")


# -- nginx -----------------------------------------------------------------------------------------------------
NGINX_CONF = """
user root;
worker_processes {workers};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    types {{ text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {address}:{port};
        root {root};
    }}
}}
"""


class ForkingServer:
    """A baseline server run as our child that forks its workers (nginx, the python floor); stopped by pid."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, address: str, workers: int) -> None:
        self.address = address
        self.port = free_port(address)
        self.workers_wanted = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.name, lambda: listening(self.address, self.port)
                   and len(self.workers()) == self.workers_wanted, 20, self.proc)  # fmt: skip

    def workers(self) -> list[int]:
        assert self.proc is not None
        return sorted(c.pid for c in psutil.Process(self.proc.pid).children())

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc, self.stop_signal)


class Nginx(ForkingServer):
    """nginx from the Debian package, `daemon off` as our child, with a generated config."""

    name = "nginx"
    stop_signal = signal.SIGQUIT  # graceful; the master reaps its workers

    def __init__(self, workdir: Path, address: str, root: Path, workers: int, access_log: bool) -> None:
        super().__init__(address, workers)
        self.prefix = workdir / "nginx"
        self.prefix.mkdir()
        self.conf = self.prefix / "nginx.conf"
        # The embedded site writes its W3C log, batched and flushed once a second; `--nginx-log on` makes nginx
        # do the same work (a buffered access log flushed every second), `off` spares it that work.
        log = f"access_log {self.prefix}/access.log combined buffer=64k flush=1s;" if access_log else "access_log off;"
        self.conf.write_text(NGINX_CONF.format(workers=workers, prefix=self.prefix, address=address,
                                               port=self.port, root=root, access_log=log))  # fmt: skip

    def command(self) -> list[str]:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        return [exe, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log")]


class PythonFloor(ForkingServer):
    """bench/python_floor_server.py: the least any CPython static-file server does per request (a baseline)."""

    name = "python floor"

    def __init__(self, address: str, root: Path, workers: int, uvloop: bool) -> None:
        super().__init__(address, workers)
        self.root = root
        self.uvloop = uvloop

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / "python_floor_server.py"), "--address", self.address,
                "--port", str(self.port), "--root", str(self.root), "--processes", str(self.workers_wanted),
                *(["--uvloop"] if self.uvloop else [])]  # fmt: skip


# -- py-spy ----------------------------------------------------------------------------------------------------
def profile_summary(raw: Path, label: str, seconds: float, rate: int, top: int = 12) -> list[str]:
    """Top functions by own and inclusive samples from py-spy's collapsed-stack output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [f.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "") for f in frames]
        frames = [re.sub(r"\(/usr/[^)]*?/lib/python3\.\d+/", "(stdlib/", f) for f in frames]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return [f"### py-spy: {label}: no samples"]
    busy = total / (seconds * rate) * 100
    lines = [f"### py-spy: {label} ({total} active samples ≈ {busy:.0f}% of one core)", "",
             "| own % | function |", "|---:|---|"]  # fmt: skip
    lines += [f"| {n / total * 100:.1f} | `{f}` |" for f, n in own.most_common(top)]
    lines += ["", "| inclusive % | function |", "|---:|---|"]
    root = max(inclusive.values())  # the entry chain (runpy, asyncio.run, run_forever...) is in every sample
    chain = [(f, n) for f, n in inclusive.most_common() if n < root]
    lines += [f"| {n / total * 100:.1f} | `{f}` |" for f, n in chain[: top + 4]]
    return lines + [""]


def py_spy() -> str | None:
    return shutil.which("py-spy") or (str(Path(sys.executable).with_name("py-spy"))
                                      if Path(sys.executable).with_name("py-spy").exists() else None)  # fmt: skip


# -- the run -------------------------------------------------------------------------------------------------------
@dataclass
class ServerResults:
    wrk: dict[str, WrkResult] = field(default_factory=dict)
    idle_worker: tuple[int, int] = (0, 0)
    idle_parent: tuple[int, int] = (0, 0)
    idle_zygote: tuple[int, int] = (0, 0)
    serial: dict[str, list[float]] = field(default_factory=dict)
    workers: int = 0


def throughput(args: argparse.Namespace, wrk: Wrk, base: str, watch: dict[str, list[int]]) -> dict[str, WrkResult]:
    """wrk on each file once the machine is quiet, after a 2 s warm-up (page cache, connection pools, code paths)."""
    results = {}
    for label, (name, _size) in FILES.items():
        wait_for_quiet(args.quiet_wait)
        wrk.run(f"{base}/{name}", 2)
        results[label] = wrk.run(f"{base}/{name}", args.duration, watch)
    return results


def measure_embedded(args: argparse.Namespace, workdir: Path, wrk: Wrk, content: Path,
                     agent: Agent) -> tuple[ServerResults, list[str]]:  # fmt: skip
    results = ServerResults()
    profile: list[str] = []
    agent.start()
    pools = agent.api("GET", "/api/webserver/application-pools")["app_pools"]
    pool = next(p for p in pools if p["name"].lower() == "defaultapppool")
    agent.api("PATCH", f"/api/webserver/application-pools/{pool['id']}",
              {"process_model": {"max_processes": args.workers}})  # fmt: skip
    site_port = free_port(agent.address)
    agent.api("POST", "/api/webserver/websites", {
        "name": SITE_NAME, "physical_path": str(content),
        "bindings": [{"ip_address": "*", "port": site_port, "protocol": "http"}],
    })  # fmt: skip
    base = f"http://{agent.address}:{site_port}"
    small = FILES["1 KiB"][0]

    def answers() -> bool:
        with urllib.request.urlopen(f"{base}/{small}", timeout=5) as response:
            return response.status == 200 and len(response.read()) == 1024

    wait_until("embedded site", answers, 60, agent.proc)
    # Warm up until the web garden has grown to maxProcesses (it grows while every worker is busy). A Range
    # request always reaches a worker: the kernel cache bypasses it (and keeps the whole 1 MiB file otherwise).
    deadline = time.monotonic() + 60
    while len(agent.workers()) < args.workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pool has {len(agent.workers())} workers, wanted {args.workers}")
        wrk.run(f"{base}/{FILES['1 MiB'][0]}", 2, headers=("Range: bytes=0-",))
    time.sleep(1)
    workers = agent.workers()
    results.workers = len(workers)
    watch = {"supervisor": [agent.pid], "workers": workers}
    results.wrk = throughput(args, wrk, base, watch)
    if set(agent.workers()) != set(workers):
        print(f"note: the worker set changed during the runs: {workers} -> {agent.workers()}", file=sys.stderr)
    # The supervisor hop: one request at a time, via the binding and straight to a worker's unix socket.
    sock_path = worker_socket(workers[0])
    direct_headers = {"Host": f"{agent.address}:{site_port}", "X-IISFleet-Site": SITE_NAME}
    wait_for_quiet(args.quiet_wait)
    for label, (name, _size) in FILES.items():
        count = args.serial if label == "1 KiB" else max(50, args.serial // 10)
        via, direct = [], []
        for _ in range(4):  # interleave, so drift hits both alike
            via += serial_latency((agent.address, site_port), {"Host": f"{agent.address}:{site_port}"},
                                  f"/{name}", count // 4)  # fmt: skip
            direct += serial_latency(sock_path, direct_headers, f"/{name}", count // 4)
        results.serial[f"{label} via binding"] = via
        results.serial[f"{label} direct"] = direct
    if args.profile:
        for label, (name, _size) in FILES.items():
            profile += profile_embedded(args, workdir, wrk, agent, f"{base}/{name}", workers[0], label)
    time.sleep(args.idle)
    results.idle_worker = max((memory(pid) for pid in agent.workers()), key=lambda m: m[0])
    results.idle_parent = memory(agent.pid)
    if agent.zygote():
        results.idle_zygote = memory(agent.zygote())
    return results, profile


def profile_embedded(args: argparse.Namespace, workdir: Path, wrk: Wrk, agent: Agent, url: str,
                     worker: int, label_file: str = "1 KiB") -> list[str]:  # fmt: skip
    exe = py_spy()
    if exe is None:
        return ["(py-spy not installed: `.venv/bin/pip install py-spy`)"]
    seconds, rate = max(4, int(args.duration) - 2), 250
    spies = []
    for label, pid in (("supervisor (agent)", agent.pid), ("worker", worker)):
        out = workdir / f"pyspy-{pid}-{label_file.replace(' ', '')}.txt"
        spy = subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(seconds), "-r", str(rate), "-f", "raw",
                                "-o", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        spies.append((label, spy, out))
    time.sleep(0.5)
    wrk.run(url, seconds + 1)
    lines = []
    for label, spy, out in spies:
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            stop_pid(spy, signal.SIGINT)
            err = b""
        if not out.exists():
            lines.append(f"(py-spy on {label} failed: {err.decode(errors='replace').strip()[-300:]})")
            continue
        lines += profile_summary(out, f"{label}, {label_file} under wrk", seconds, rate)
        if args.profile_dir:
            shutil.copy(out, Path(args.profile_dir) / out.name)
    return lines


def measure_nginx(args: argparse.Namespace, workdir: Path, wrk: Wrk, content: Path,
                  address: str) -> ServerResults:  # fmt: skip
    results = ServerResults()
    nginx = Nginx(workdir, address, content, args.workers, args.nginx_log == "on")
    nginx.start()
    try:
        base = f"http://{address}:{nginx.port}"
        workers = nginx.workers()
        results.workers = len(workers)
        assert nginx.proc is not None
        watch = {"master": [nginx.proc.pid], "workers": workers}
        results.wrk = throughput(args, wrk, base, watch)
        wait_for_quiet(args.quiet_wait)
        for label, (name, _size) in FILES.items():
            count = args.serial if label == "1 KiB" else max(50, args.serial // 10)
            results.serial[label] = serial_latency((address, nginx.port), {"Host": f"{address}:{nginx.port}"},
                                                   f"/{name}", count)  # fmt: skip
        time.sleep(args.idle)
        results.idle_worker = max((memory(pid) for pid in nginx.workers()), key=lambda m: m[0])
        results.idle_parent = memory(nginx.proc.pid)
    finally:
        nginx.stop()
    return results


def measure_floor(args: argparse.Namespace, wrk: Wrk, content: Path, address: str) -> ServerResults:
    """Throughput only: the floor server has no config, log or hop to measure."""
    results = ServerResults()
    floor = PythonFloor(address, content, args.workers, args.uvloop == "on")
    floor.start()
    try:
        base = f"http://{address}:{floor.port}"
        watch = {"workers": floor.workers()}
        results.workers = len(watch["workers"])
        results.wrk = throughput(args, wrk, base, watch)
    finally:
        floor.stop()
    return results


def version(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0] if text else "?"
    return "?"


def report(args: argparse.Namespace, emb: ServerResults, ngx: ServerResults, floor: ServerResults | None,
           profile: list[str]) -> None:  # fmt: skip
    mib = 1024 * 1024
    print(f"## Embedded host vs nginx — static files (wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration:g}s, {args.workers} worker processes each, "
          f"kernel response cache {args.kernel_cache}, uvloop {args.uvloop}, handoff {args.handoff}, "
          f"nginx access log {args.nginx_log})\n")  # fmt: skip
    print(f"Environment: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}, {version(['nginx', '-v'])}, {version(['wrk', '-v'])}, "
          f"kernel {platform.release()}. Servers run one after the other; wrk shares the same cores.\n")  # fmt: skip
    print("| file | server | req/s | MB/s | p50 ms | p99 ms | errors | CPU s (server procs) | CPU s (wrk) "
          "| CPU s (other) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for label in FILES:
        rows = [("embedded", emb.wrk[label]), ("nginx", ngx.wrk[label])]
        if floor is not None:
            rows.append(("python floor", floor.wrk[label]))
        for name, res in rows:
            server_cpu = ", ".join(f"{k} {v:.1f}" for k, v in res.cpu.items() if k not in ("wrk", "other"))
            print(f"| {label} | {name} | {res.rps:,.0f} | {res.mbps:,.1f} | {res.p50_ms:.2f} | {res.p99_ms:.2f} "
                  f"| {res.errors} | {server_cpu} | {res.cpu['wrk']:.1f} | {res.cpu['other']:.1f} |")  # fmt: skip
        e, n = emb.wrk[label], ngx.wrk[label]
        print(f"| {label} | **ratio embedded/nginx** | **{e.rps / n.rps:.3f}** | **{e.mbps / n.mbps:.3f}** "
              f"| {e.p50_ms / n.p50_ms:.1f}× | {e.p99_ms / n.p99_ms:.1f}× | | | | |")  # fmt: skip
        if floor is not None:
            f = floor.wrk[label]
            print(f"| {label} | ratio python floor/nginx (the ceiling for CPython) | {f.rps / n.rps:.3f} "
                  f"| {f.mbps / n.mbps:.3f} | | | | | | |")  # fmt: skip
    print(f"\n### Supervisor hop (one request at a time, one keep-alive connection, same Python client; "
          f"{args.serial} × 1 KiB, {max(50, args.serial // 10)} × 1 MiB)\n")  # fmt: skip
    print("| file | via site binding p50 / p99 ms | direct to worker (unix) p50 / p99 ms "
          "| added by the hop p50 / p99 ms | nginx p50 / p99 ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for label in FILES:
        via, direct, ng = emb.serial[f"{label} via binding"], emb.serial[f"{label} direct"], ngx.serial[label]
        print(f"| {label} | {pct(via, 50):.3f} / {pct(via, 99):.3f} | {pct(direct, 50):.3f} / {pct(direct, 99):.3f} "
              f"| {pct(via, 50) - pct(direct, 50):+.3f} / {pct(via, 99) - pct(direct, 99):+.3f} "
              f"| {pct(ng, 50):.3f} / {pct(ng, 99):.3f} |")  # fmt: skip
    print(f"\n### Idle memory (after the runs and {args.idle:g} s idle; largest worker)\n")
    print("| process | RSS MiB | USS MiB |")
    print("|---|---:|---:|")
    print(f"| embedded worker (w3wp role) | {emb.idle_worker[0] / mib:.1f} | {emb.idle_worker[1] / mib:.1f} |")
    print(f"| nginx worker | {ngx.idle_worker[0] / mib:.1f} | {ngx.idle_worker[1] / mib:.1f} |")
    print(f"| agent (supervisor + API) | {emb.idle_parent[0] / mib:.1f} | {emb.idle_parent[1] / mib:.1f} |")
    if emb.idle_zygote[0]:
        print(f"| worker zygote (fork server) | {emb.idle_zygote[0] / mib:.1f} | {emb.idle_zygote[1] / mib:.1f} |")
    print(f"| nginx master | {ngx.idle_parent[0] / mib:.1f} | {ngx.idle_parent[1] / mib:.1f} |")
    rss_ratio = emb.idle_worker[0] / max(ngx.idle_worker[0], 1)
    print(f"| **ratio worker RSS embedded/nginx** | **{rss_ratio:.1f}** | |")
    if profile:
        print()
        print("\n".join(profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="maxProcesses / worker_processes")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--serial", type=int, default=2000, help="sequential 1 KiB requests for the hop latency")
    parser.add_argument("--idle", type=float, default=3, help="idle seconds before reading RSS")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="seconds to wait at most for other load to go away before each measured run",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the supervisor and a worker (extra run)")
    parser.add_argument("--profile-dir", help="keep py-spy's raw collapsed stacks in this folder")
    parser.add_argument("--kernel-cache", choices=("on", "off"), default="on",
                        help="the supervisor's kernel response cache (IISFLEET_KERNEL_CACHE)")  # fmt: skip
    parser.add_argument("--uvloop", choices=("on", "off"), default="on",
                        help="run the agent and its workers on uvloop when installed (IISFLEET_UVLOOP)")  # fmt: skip
    parser.add_argument("--nginx-log", choices=("on", "off"), default="off",
                        help="nginx writes a buffered access log, as the embedded site writes its W3C log")  # fmt: skip
    parser.add_argument("--handoff", choices=("on", "off"), default="on",
                        help="connection handoff to workers (IISFLEET_CONNECTION_HANDOFF; workers take handoffs only "
                             "with the kernel cache off)")  # fmt: skip
    parser.add_argument("--floor", choices=("on", "off"), default="on",
                        help="also measure bench/python_floor_server.py, the least a CPython server does")  # fmt: skip
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed (apt-get install -y nginx wrk)")
    address = f"127.0.0.{random.randrange(20, 250)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-embedded-nginx-"))
    try:
        agent = Agent(workdir, address, kernel_cache=args.kernel_cache == "on", uvloop=args.uvloop == "on",
                      handoff=args.handoff == "on")  # fmt: skip
        content = agent.state / "inetpub" / "bench"
        content.mkdir(parents=True)
        for name, size in FILES.values():
            (content / name).write_bytes(os.urandom(size // 2).hex().encode()[:size])
        wrk = Wrk(workdir, args.threads, args.connections)
        try:
            embedded, profile = measure_embedded(args, workdir, wrk, content, agent)
        finally:
            agent.stop()
        nginx = measure_nginx(args, workdir, wrk, content, address)
        floor = measure_floor(args, wrk, content, address) if args.floor == "on" else None
        report(args, embedded, nginx, floor, profile)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
