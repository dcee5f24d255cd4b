"""Benchmark P8 (issue 13): idle memory of the agent, its worker zygote and its workers, against baselines.

One run, one server at a time, everything started here and stopped by pid:

1. Baselines: an idle nginx worker (the Debian package, one worker serving the same folder, after a few
   requests), and this venv's interpreter idle three ways: bare (`python -c`), after `import asyncio`, after
   `import aiohttp.web`. Those three are the floor of a Python worker that speaks HTTP through aiohttp.
2. A real `iisfleet agent run` (fresh state dir, TLS API) gets a site bound to a free port whose pool
   (DefaultAppPool) has maxProcesses=N, and is measured after `--idle` seconds ("first start": it has just
   made its TLS certificate and certificate stores). It is then restarted on the same state directory, the
   steady state of every later start: wrk warms the site until N workers run; a few ordinary API calls
   (sites, pools, one site, its applications, the web server) and site requests; then `--idle` seconds of
   nothing. Reported for the agent (API + supervisor), the zygote and every worker: RSS, PSS, USS (private
   pages), and RSS split into anonymous and file-backed pages, from /proc/PID/smaps_rollup.
3. Then the routes whose modules load on first use (LAZY_ROUTES): the latency of the first and of the second
   request of each, and the agent's memory again once they have run.

    .venv/bin/python bench/idle_memory.py [--workers 2] [--idle 20] [--smaps 12]

`--smaps N` also prints the agent's and a worker's N largest mappings by RSS (where the pages come from).
Needs `nginx` and `wrk` on PATH (`apt-get install -y nginx wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from embedded_vs_nginx import Agent, Nginx, Wrk, free_port, stop_pid, wait_for_quiet, wait_until  # noqa: E402

MIB = 1024 * 1024
BASELINE_IDLE = 2.0  # seconds before reading a baseline's memory
GOALS = {"agent": 60.0, "worker": 20.0}  # MiB, RSS and USS (issue 13, P8)
FLOORS = {
    "python (bare)": "pass",
    "python + asyncio": "import asyncio",
    "python + aiohttp.web": "import aiohttp.web",
}
# Routes whose modules the agent imports on first use, not at start-up: (label, method, path).
LAZY_ROUTES = (
    ("certificates list (cryptography)", "GET", "/api/certificates"),
    ("OpenAPI document", "GET", "/openapi.json"),
)
ORDINARY_CALLS = (
    "/api",
    "/api/webserver",
    "/api/webserver/websites",
    "/api/webserver/application-pools",
    "/api/webserver/webapps?website.id={site}",
    "/api/webserver/websites/{site}",
)


@dataclass
class Memory:
    """From /proc/PID/smaps_rollup, in bytes."""

    rss: int
    pss: int
    uss: int
    anon: int
    file: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, value = line.partition(":")
            fields[name] = int(value.split()[0]) * 1024
        uss = fields["Private_Clean"] + fields["Private_Dirty"]
        return cls(fields["Rss"], fields["Pss"], uss, fields["Anonymous"], fields["Rss"] - fields["Anonymous"])

    def row(self, label: str) -> str:
        return (f"| {label} | {self.rss / MIB:.1f} | {self.pss / MIB:.1f} | {self.uss / MIB:.1f} "
                f"| {self.anon / MIB:.1f} | {self.file / MIB:.1f} |")  # fmt: skip


def largest_mappings(pid: int, top: int) -> list[str]:
    """RSS and private bytes per mapped file (anonymous mappings grouped as [anon], [heap], ...)."""
    rss: Counter[str] = Counter()
    private: Counter[str] = Counter()
    name = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:  # a mapping's first line: range perms offset dev inode [path]
            name = head[5] if len(head) > 5 else "[anon]"
            name = name.replace(str(Path(sys.prefix)), "<venv>").replace(sys.base_prefix, "<python>")
        elif head[0] == "Rss:":
            rss[name] += int(head[1]) * 1024
        elif head[0] in ("Private_Clean:", "Private_Dirty:"):
            private[name] += int(head[1]) * 1024
    lines = ["| mapping | RSS MiB | private MiB |", "|---|---:|---:|"]
    lines += [f"| `{n}` | {b / MIB:.2f} | {private[n] / MIB:.2f} |" for n, b in rss.most_common(top)]
    return lines


def python_floor(code: str, idle: float) -> Memory:
    """An idle interpreter of this venv after `code`."""
    proc = subprocess.Popen([sys.executable, "-c", f"{code}\nimport sys, time\nprint('R', flush=True)\n"
                             "time.sleep(120)"], stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(idle)
        return Memory.of(proc.pid)
    finally:
        stop_pid(proc)


def nginx_worker(workdir: Path, address: str, content: Path, idle: float) -> Memory:
    nginx = Nginx(workdir, address, content, 1, access_log=False)  # the baseline as before --nginx-log existed
    nginx.start()
    try:
        for _ in range(20):
            with urllib.request.urlopen(f"http://{address}:{nginx.port}/small.html", timeout=5) as response:
                response.read()
        time.sleep(idle)
        return Memory.of(nginx.workers()[0])
    finally:
        nginx.stop()


@dataclass
class AgentRun:
    agent: Memory
    zygote: Memory | None
    workers: list[Memory]
    lazy: list[tuple[str, float, float]]
    agent_after_lazy: Memory
    mappings: list[str]
    first_start: Memory


def measure_agent(args: argparse.Namespace, workdir: Path, agent: Agent, content: Path) -> AgentRun:
    agent.start()
    pool = next(p for p in agent.api("GET", "/api/webserver/application-pools")["app_pools"]
                if p["name"].lower() == "defaultapppool")  # fmt: skip
    agent.api("PATCH", f"/api/webserver/application-pools/{pool['id']}",
              {"process_model": {"max_processes": args.workers}})  # fmt: skip
    site_port = free_port(agent.address)
    site = agent.api("POST", "/api/webserver/websites", {
        "name": "idle", "physical_path": str(content),
        "bindings": [{"ip_address": "*", "port": site_port, "protocol": "http"}],
    })  # fmt: skip
    base = f"http://{agent.address}:{site_port}"
    time.sleep(args.idle)
    first_start = Memory.of(agent.pid)
    agent.stop()  # and the steady state: the same agent started again on its state directory
    agent.log = (workdir / "agent-restarted.log").open("wb")
    agent.start()

    def get(path: str) -> bytes:
        with urllib.request.urlopen(f"{base}{path}", timeout=5) as response:
            return bytes(response.read())

    wait_until("site", lambda: len(get("/big.bin")) == 1 << 20, 60, agent.proc)
    wrk = Wrk(workdir, 2, 16)
    deadline = time.monotonic() + 60
    # The web garden grows while every worker is busy; a Range request always reaches a worker (the kernel
    # response cache answers plain GETs of the whole file itself).
    while len(agent.workers()) < args.workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pool has {len(agent.workers())} workers, wanted {args.workers}")
        wrk.run(f"{base}/big.bin", 2, headers=("Range: bytes=0-",))
    for path in ORDINARY_CALLS:
        agent.api("GET", path.format(site=site["id"]))
    for _ in range(10):
        get("/small.html")
    wait_for_quiet(args.quiet_wait)
    time.sleep(args.idle)
    workers, zygote = agent.workers(), agent.zygote()
    mappings: list[str] = []
    if args.smaps:
        mappings = [f"Agent (pid {agent.pid}):", "", *largest_mappings(agent.pid, args.smaps), "",
                    f"Worker (pid {workers[0]}):", "", *largest_mappings(workers[0], args.smaps)]  # fmt: skip
    run = AgentRun(Memory.of(agent.pid), Memory.of(zygote) if zygote else None, [Memory.of(w) for w in workers],
                   [], Memory.of(agent.pid), mappings, first_start)  # fmt: skip
    for label, method, path in LAZY_ROUTES:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            agent.api(method, path)
            times.append((time.perf_counter() - started) * 1000)
        run.lazy.append((label, times[0], times[1]))
    time.sleep(1)
    run.agent_after_lazy = Memory.of(agent.pid)
    return run


def report(args: argparse.Namespace, floors: dict[str, Memory], nginx: Memory, run: AgentRun) -> None:
    load = os.getloadavg()
    print(f"## P8 idle memory ({args.workers} workers, {args.idle:g} s idle; load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})\n")  # fmt: skip
    print("| process | RSS MiB | PSS MiB | USS MiB | anon MiB | file MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    print(nginx.row("nginx worker (baseline)"))
    for label, memory in floors.items():
        print(memory.row(f"{label} (baseline)"))
    print(run.first_start.row("agent, first start (made its certificates)"))
    print(run.agent.row("**agent** (API + supervisor), restarted"))
    if run.zygote is not None:
        print(run.zygote.row("worker zygote"))
    for i, memory in enumerate(run.workers, 1):
        print(memory.row(f"**worker {i}**"))
    print(run.agent_after_lazy.row("agent after the lazy routes"))
    bare = floors["python (bare)"]
    worst = max(run.workers, key=lambda m: m.rss)
    print("\n| ratio | RSS | USS | goal (RSS and USS) |")
    print("|---|---:|---:|---|")
    for label, memory, goal in (("agent", run.agent, GOALS["agent"]), ("worker (largest)", worst, GOALS["worker"])):
        met = "met" if max(memory.rss, memory.uss) / MIB <= goal else "**not met**"
        print(f"| {label} / nginx worker | {memory.rss / nginx.rss:.1f}× | {memory.uss / nginx.uss:.1f}× "
              f"| ≤ {goal:g} MiB: {met} |")  # fmt: skip
        print(f"| {label} / bare python | {memory.rss / bare.rss:.2f}× | {memory.uss / bare.uss:.2f}× | |")
    print("\n| lazily loaded route | first request ms | second request ms |")
    print("|---|---:|---:|")
    for label, first, second in run.lazy:
        print(f"| {label} | {first:.1f} | {second:.1f} |")
    if run.mappings:
        print("\n### Largest mappings by RSS\n")
        print("\n".join(run.mappings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="maxProcesses of the site's pool")
    parser.add_argument("--idle", type=float, default=20,
                        help="idle seconds before the agent is measured (it trims its heap every 15 s)")  # fmt: skip
    parser.add_argument("--smaps", type=int, default=0, help="print the N largest mappings of agent and worker")
    parser.add_argument("--quiet-wait", type=float, default=30, help="seconds to wait at most for a quiet machine")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed (apt-get install -y nginx wrk)")
    address = f"127.0.0.{random.randrange(20, 250)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-idle-memory-"))
    try:
        agent = Agent(workdir, address, uvloop=False)
        content = agent.state / "inetpub" / "idle"
        content.mkdir(parents=True)
        (content / "small.html").write_bytes(b"x" * 1024)
        (content / "big.bin").write_bytes(os.urandom(1 << 20))
        floors = {label: python_floor(code, BASELINE_IDLE) for label, code in FLOORS.items()}
        nginx = nginx_worker(workdir, address, content, BASELINE_IDLE)
        try:
            run = measure_agent(args, workdir, agent, content)
        finally:
            with contextlib.suppress(Exception):
                agent.stop()
        report(args, floors, nginx, run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
