"""Benchmark: deploy 200 MB in 2,000 files to 5 real agents with a fleet job, against rsync over SSH.

Real controller, Redis, Celery worker and five agents on 127.0.0.2-6. The job side is `iisfleet deploy DIR`
end to end (manifest to the controller, only the contents it lacks uploaded, one job: manifest to each agent,
only the files it lacks sent as one tar, switch, verify), and the job alone (from its events). The baseline
is rsync over SSH (sshd on 127.0.0.1 with a temp
host key and key-only root login) of the same directory into a new folder next to each agent's site, one
agent at a time and five at once. rsync neither switches the site nor verifies it; the job does both.
The file contents are random, so compression gains nothing for either side. Then --changed-pct of the files
get new content and both redeploy: the job (an incremental build: only missing files travel, the rest is
hard-linked on the agent; bytes sent come from the steps' output) against rsync's incremental run into the
folders of its five-at-once run.

    .venv/bin/python bench/jobs_deploy.py [--files 2000] [--size-mb 200] [--agents 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench.jobs_fanout import _free_port, _profile, _redis_url, _wait  # noqa: E402
from iisfleet.client.http import Controller  # noqa: E402


def _make_tree(root: Path, files: int, total: int) -> None:
    size = total // files
    for index in range(files):
        path = root / f"d{index % 20:02d}" / f"f{index:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    (root / "index.html").write_text("bench release\n")


def _change(root: Path, percent: float) -> int:
    """Give `percent` of the files new random content of the same size (and a new index.html); bytes changed."""
    files = sorted(p for p in root.rglob("*.bin"))
    step = max(1, round(100 / percent))
    changed = 0
    for path in files[::step]:
        size = path.stat().st_size
        path.write_bytes(os.urandom(size))
        changed += size
    index = root / "index.html"
    index.write_text("bench release two\n")
    return changed + index.stat().st_size


def _cpu(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of each started process tree so far (children included)."""
    seconds: dict[str, tuple[float, float]] = {}
    for label, proc in procs.items():
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            times = [p.cpu_times() for p in tree]
            seconds[label] = (sum(t.user for t in times), sum(t.system for t in times))
        except psutil.Error:
            seconds[label] = (0.0, 0.0)
    return seconds


def _cpu_line(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> str:
    spent = {label: tuple(a - b for a, b in zip(after[label], before.get(label, (0.0, 0.0)), strict=True))
             for label in after}
    agents = [v for k, v in spent.items() if k.startswith("agent")]
    user, system = sum(v[0] for v in agents), sum(v[1] for v in agents)
    return (f"  CPU s: controller {sum(spent.get('controller', (0, 0))):.2f}, worker "
            f"{sum(spent.get('worker', (0, 0))):.2f}, agents {user + system:.2f} (user {user:.2f} + system "
            f"{system:.2f}); all {sum(sum(v) for v in spent.values()):.2f}")


def _sshd(tmp: Path) -> tuple[subprocess.Popen[bytes], list[str]] | str:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or not shutil.which("rsync") or not shutil.which("ssh"):
        return "sshd, ssh or rsync is not installed (apt-get install -y openssh-server rsync)"
    if os.geteuid() != 0:
        return "key-only root login needs root"
    os.makedirs("/run/sshd", exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)], check=True)
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    os.chmod(tmp / "authorized_keys", 0o600)
    port = _free_port()
    config = tmp / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
                      f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPasswordAuthentication no\n"
                      "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n")
    proc = subprocess.Popen([sshd, "-D", "-f", str(config), "-E", str(tmp / "sshd.log")])
    ssh = (f"ssh -p {port} -i {tmp / 'client_key'} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           "-o LogLevel=ERROR")
    try:
        _wait("sshd", lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5), timeout=15)
    except SystemExit:
        proc.kill()
        return f"sshd did not start; see {tmp / 'sshd.log'}"
    return proc, ["rsync", "-a", "-e", ssh]


def _rsync(rsync: list[str], src: Path, targets: list[Path], parallel: bool) -> float:
    started = time.perf_counter()
    runs = [subprocess.Popen([*rsync, f"{src}/", f"root@127.0.0.1:{target}/"]) for target in targets] if parallel \
        else []
    if not parallel:
        for target in targets:
            subprocess.run([*rsync, f"{src}/", f"root@127.0.0.1:{target}/"], check=True)
    for run in runs:
        assert run.wait() == 0
    return time.perf_counter() - started


def main() -> None:  # noqa: PLR0915 - one straight script
    """Run once and print the comparison."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    parser.add_argument("--profile", default="", help="py-spy raw profiles of agent1 and the worker, first deploy")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    src = tmp / "release"
    _make_tree(src, args.files, args.size_mb * 1024 * 1024)
    redis_url = _redis_url()
    prefix = f"bench-deploy:{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "CONTROLLER_REDIS_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "iisfleet"]
    state = tmp / "controller"
    common = ["--state-dir", str(state), "--redis-url", redis_url]
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    labelled: dict[str, subprocess.Popen[bytes]] = {}

    def start(label: str, argv: list[str]) -> None:
        with open(tmp / f"{label}.log", "ab") as log:
            procs.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=log))
        labelled[label] = procs[-1]

    sshd: Any = None
    try:
        start("controller", [*cli, "controller", "run", *common, "--address", "127.0.0.1", "--port", str(port)])
        cafile = state / "pki" / "ca.crt"
        _wait("the CA", cafile.exists)
        token = subprocess.run([*cli, "controller", "key", "create", *common, "--purpose", "bench",
                                "--role", "admin"], cwd=REPO,
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        api = Controller(f"https://127.0.0.1:{port}", token, str(cafile))
        _wait("the controller", lambda: api.call("GET", "/openapi.json"))
        start("worker", [*cli, "worker", "run", *common])
        for n in range(1, args.agents + 1):
            join = api.call("POST", "/api/join-tokens", {"labels": {"bench": "deploy"}})["token"]
            start(f"agent{n}", [*cli, "agent", "run", "--state-dir", str(tmp / f"agent{n}"), "--address",
                                f"127.0.0.{n + 1}", "--port", str(_free_port()), "--controller", api.url,
                                "--join-token", join, "--name", f"agent{n}"])
        _wait("agents", lambda: len(api.call("GET", "/api/agents")["agents"]) == args.agents)
        target = {"labels": {"bench": "deploy"}}
        job = api.call("POST", "/api/jobs", {"action": "site.create", "target": target,
                                              "params": {"name": "bench", "bindings": [{"port": 8093}]}})
        _wait("site.create", lambda: api.call("GET", f"/api/jobs/{job['id']}")["status"] == "succeeded")
        def deploy(marker: str) -> tuple[float, float, int]:
            before = _cpu(labelled)
            started = time.perf_counter()
            done = subprocess.run([*cli, "deploy", str(src), "--site", "bench", "--selector", "bench=deploy",
                                   "--json", "--controller", api.url, "--token", token, "--cafile", str(cafile),
                                   "--health-path", "/index.html", "--health-contains", marker],
                                  cwd=REPO, env=env, capture_output=True, text=True)
            total = time.perf_counter() - started
            print(_cpu_line(before, _cpu(labelled)))
            lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{\"type\"")]
            view = api.call("GET", "/api/jobs?per_page=1")["jobs"][0]
            assert view["status"] == "succeeded", (done.stderr, view)
            results = api.call("GET", f"/api/jobs/{view['id']}")["results"]
            sent = sum(int(r["output"].get("sent_bytes", 0)) for r in results)
            synced = next((e for e in lines if e["type"] == "artifact.synced"), {})
            print(f"  (CLI uploaded {synced.get('uploaded_files')} contents, {synced.get('uploaded_bytes')} bytes)")
            created = next(e["ts"] for e in lines if e["type"] == "job.created")
            finished = next(e["ts"] for e in lines if e["type"] == "job.finished")
            return total, finished - created, sent

        spies = [_profile(args.profile, label, labelled[label].pid) for label in ("agent1", "worker")] \
            if args.profile else []
        total, job_s, sent = deploy("bench release")
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        print(f"files.deploy job, {args.files} files / {args.size_mb} MB to {args.agents} agents:")
        print(f"  iisfleet deploy DIR end to end (manifest + new contents + job): {total:7.2f} s")
        print(f"  job alone (job.created -> job.finished, incl. verify):         {job_s:7.2f} s"
              f"  ({sent / args.agents / 1e6:.1f} MB sent per agent)")
        sshd = _sshd(tmp)
        if isinstance(sshd, str):
            print(f"  rsync over SSH: skipped ({sshd})")
            return
        proc, rsync = sshd
        targets = [tmp / f"agent{n}" / "inetpub" / "sites" / f"bench.rsync-{k}" for k in ("seq", "par")
                   for n in range(1, args.agents + 1)]
        seq = _rsync(rsync, src, targets[: args.agents], parallel=False)
        par = _rsync(rsync, src, targets[args.agents :], parallel=True)
        print(f"  rsync -a over SSH, one agent at a time:                        {seq:7.2f} s")
        print(f"  rsync -a over SSH, {args.agents} at once:                                {par:7.2f} s")
        print(f"  ratio job / rsync ({args.agents} at once): {job_s / par:.2f}")
        changed = _change(src, args.changed_pct)
        re_total, re_job, re_sent = deploy("bench release two")
        re_par = _rsync(rsync, src, targets[args.agents :], parallel=True)
        print(f"redeploy with {args.changed_pct}% of the files changed ({changed / 1e6:.2f} MB per agent):")
        print(f"  iisfleet deploy DIR end to end:                                {re_total:7.2f} s")
        print(f"  job alone:                                                     {re_job:7.2f} s"
              f"  ({re_sent / args.agents / 1e6:.2f} MB sent per agent, {re_sent / args.agents / changed:.2f}x the "
              "changed bytes)")
        print(f"  rsync -a over SSH, {args.agents} at once (incremental):                {re_par:7.2f} s")
        print(f"  ratio job / rsync incremental: {re_job / re_par:.2f}")
        print(json.dumps({"deploy_cli": total, "job": job_s, "sent": sent, "rsync_seq": seq, "rsync_par": par,
                          "redeploy_cli": re_total, "redeploy_job": re_job, "redeploy_sent": re_sent,
                          "changed_bytes": changed, "rsync_incremental": re_par}))
    finally:
        if sshd is not None and not isinstance(sshd, str):
            sshd[0].terminate()
            sshd[0].wait(timeout=10)
        for proc_ in reversed(procs):
            if proc_.poll() is None:
                proc_.terminate()
        for proc_ in procs:
            try:
                proc_.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc_.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        if not redis_url.startswith("unix://"):
            import redis as redis_sync

            client = redis_sync.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)


if __name__ == "__main__":
    main()
