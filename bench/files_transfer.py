"""Benchmark: upload and download large files through the agent's files API, against `cp` and rsync over SSH.

For each size (default 256 MiB and 1 GiB) it measures, on the same machine and the same disk:

* upload in `--chunk` pieces (PUT /api/files/content/{id} with Content-Range), one request after the other as
  upstream clients send them, each body streamed in 1 MiB pieces (`--chunk-body bytes`: as one object), and as
  one request;
* download (GET /api/files/content/{id}), streamed to nowhere;
* `cp` of the same file (plus fsync, since the agent syncs before it renames an upload into place);
* rsync over SSH on loopback, when `ssh -o BatchMode=yes HOST true` works (else it says how to enable it);
* the agent's peak RSS during the transfers (psutil), which must stay flat as the file size grows.

Against a running agent (HTTPS with its self-signed certificate)::

    .venv/bin/python bench/files_transfer.py --url https://127.0.0.1:55539 --token TOKEN \\
        --cafile STATE/certs/agent.crt --agent-pid PID

Or let it start one (`iisfleet agent run` on a fresh state directory, token from `iisfleet agent key create`)::

    .venv/bin/python bench/files_transfer.py --start-agent [--sizes 256M,1G] [--chunk 8M] [--repeat 3]

rsync needs key login over SSH on loopback. Without a system sshd, run one of your own (as in
bench/RESULTS.md): a host key and a client key made with ssh-keygen, an sshd_config with `Port 22413`,
`ListenAddress 127.0.0.1`, `HostKey`, `AuthorizedKeysFile` (the client's public key) and `PidFile`, started
with `/usr/sbin/sshd -f sshd_config`, then `--ssh "ssh -p 22413 -i CLIENT_KEY -o BatchMode=yes
-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil

UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
SEND_BLOCK = 1024 * 1024


def parse_size(text: str) -> int:
    """`256M`, `1G`, `4096` -> bytes."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


class RssSampler:
    """Peak resident memory of one process, sampled every 20 ms on a thread."""

    def __init__(self, pid: int | None) -> None:
        self.proc = psutil.Process(pid) if pid else None
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Sample while the block runs."""
        if self.proc is None:
            yield
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        assert self.proc is not None
        children: list[psutil.Process] = []
        found = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - found > 1.0:  # children() walks all of /proc: not every 20 ms
                    children, found = self.proc.children(True), time.monotonic()
                rss = self.proc.memory_info().rss
                for child in children:
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            self._stop.wait(0.02)


def make_source(path: Path, size: int) -> None:
    """Random bytes, written in 8 MiB blocks."""
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 * 1024 * 1024))
            out.write(block)
            left -= len(block)


class Agent:
    """A small client for the files API."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url = session, url.rstrip("/")
        self.headers = {"Access-Token": f"Bearer {token}", "Accept": "application/hal+json"}

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """One JSON request."""
        async with self.session.request(method, self.url + path, headers=self.headers, **kw) as resp:
            text = await resp.text()
            return resp.status, (__import__("json").loads(text) if text.strip().startswith(("{", "[")) else text)

    async def writable_root(self) -> dict[str, Any]:
        """The first location root this token may write."""
        status, body = await self.call("GET", "/api/files")
        if status != 200:
            raise SystemExit(f"GET /api/files answered {status}: {body}")
        for item in body["files"]:
            _s, full = await self.call("GET", f"/api/files/{item['id']}")
            if "write" in full.get("claims", []):
                return dict(full)
        raise SystemExit("no file location grants write; add one to files.locations in appsettings.json")

    async def fresh_file(self, root: dict[str, Any], name: str) -> str:
        """Create an empty file (replacing an old one) and return its id."""
        status, listing = await self.call("GET", f"/api/files?parent.id={root['id']}&name={name}")
        for item in listing.get("files", []) if status == 200 else []:
            if item["name"] == name:
                await self.call("DELETE", f"/api/files/{item['id']}")
        status, body = await self.call("POST", "/api/files", json={"parent": {"id": root["id"]}, "name": name,
                                                                      "type": "file"})
        if status != 201:
            raise SystemExit(f"cannot create {name}: {status} {body}")
        return str(body["id"])

    async def upload_chunked(self, file_id: str, source: Path, chunk: int, stream: bool = True) -> None:
        """PUT the file in `chunk`-byte Content-Range pieces, in order, one request at a time (as upstream
        clients do). Each chunk's body streams in SEND_BLOCK pieces, as curl or a browser streams it: handed
        to aiohttp as one bytes object (`stream=False`, `--chunk-body bytes`, what this bench did before
        2026-12-05), the whole chunk is encrypted before its first byte leaves, so the agent cannot start on
        a chunk until the client has finished preparing it."""
        size = (await asyncio.to_thread(source.stat)).st_size
        handle = await asyncio.to_thread(open, source, "rb")

        async def pieces(data: bytes) -> AsyncIterator[memoryview]:
            view = memoryview(data)
            for at in range(0, len(view), SEND_BLOCK):
                yield view[at : at + SEND_BLOCK]

        try:
            for first in range(0, size, chunk):
                data = await asyncio.to_thread(handle.read, chunk)
                last = first + len(data) - 1
                headers = {**self.headers, "Content-Range": f"bytes {first}-{last}/{size}",
                           "Content-Length": str(len(data))}
                body = pieces(data) if stream else data
                async with self.session.put(f"{self.url}/api/files/content/{file_id}", data=body,
                                            headers=headers) as resp:
                    if resp.status not in (200, 202):
                        raise SystemExit(f"chunk {first}-{last}: {resp.status} {await resp.text()}")
        finally:
            handle.close()

    async def upload_whole(self, file_id: str, source: Path) -> None:
        """PUT the whole file as one streamed request body (read in 8 MiB blocks off the event loop)."""
        size = (await asyncio.to_thread(source.stat)).st_size
        handle = await asyncio.to_thread(open, source, "rb")

        async def blocks() -> AsyncIterator[bytes]:
            while data := await asyncio.to_thread(handle.read, 8 * 1024 * 1024):
                yield data

        try:
            headers = {**self.headers, "Content-Length": str(size)}
            async with self.session.put(f"{self.url}/api/files/content/{file_id}", data=blocks(),
                                        headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"single PUT: {resp.status} {await resp.text()}")
        finally:
            handle.close()

    async def download(self, file_id: str) -> int:
        """GET the content and discard it; returns the byte count."""
        total = 0
        async with self.session.get(f"{self.url}/api/files/content/{file_id}", headers=self.headers) as resp:
            if resp.status != 200:
                raise SystemExit(f"download: {resp.status}")
            async for block in resp.content.iter_chunked(1024 * 1024):
                total += len(block)
        return total


def timed_cp(source: Path, target: Path) -> float:
    """`cp` then fsync, in seconds."""
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - start


SSH = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no"


def ssh_ready(host: str, ssh: str = SSH) -> str | None:
    """None when rsync over SSH to `host` works, else the reason it is skipped."""
    if not shutil.which("rsync") or not shutil.which("ssh"):
        return "rsync/ssh not installed (apt-get install -y openssh-server rsync)"
    probe = subprocess.run([*ssh.split(), host, "true"], capture_output=True, timeout=20)
    if probe.returncode != 0:
        return f"ssh {host} needs key login (ssh-keygen; add the key to authorized_keys; start sshd)"
    return None


def timed_rsync(source: Path, host: str, target: Path, ssh: str = SSH) -> float:
    """rsync over SSH on loopback, in seconds (rsync's default: no fsync at all)."""
    start = time.perf_counter()
    subprocess.run(["rsync", "--whole-file", "-e", ssh, str(source), f"{host}:{target}"], check=True,
                   capture_output=True)
    return time.perf_counter() - start


@contextmanager
def started_agent(workdir: Path) -> Iterator[tuple[str, str, str, int]]:
    """Run `iisfleet agent run` on a fresh state dir; yields (url, token, cafile, pid)."""
    state = workdir / "agent-state"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    exe = str(Path(sys.executable).with_name("iisfleet"))
    proc = subprocess.Popen([exe, "agent", "run", "--state-dir", str(state), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (state / "certs" / "agent.crt").exists() or not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the agent did not start (run it by hand and use --url)")
            time.sleep(0.2)
        token = subprocess.run([exe, "agent", "key", "create", "--state-dir", str(state), "--purpose", "bench"],
                               check=True, capture_output=True, text=True).stdout.strip()
        yield f"https://127.0.0.1:{port}", token, str(state / "certs" / "agent.crt"), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def rate(size: int, seconds: float) -> str:
    """MiB/s."""
    return f"{size / 1024**2 / seconds:8.1f} MiB/s"


async def bench(args: argparse.Namespace, url: str, token: str, cafile: str | None, pid: int | None) -> None:
    """Run every measurement and print the table."""
    context: ssl.SSLContext | bool = False
    if url.startswith("https") and cafile:
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False  # the chain is still verified against the agent's own certificate
    sampler = RssSampler(pid)
    ssh_skip = ssh_ready(args.ssh_host, args.ssh)
    peaks: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), timeout=timeout) as session:
        agent = Agent(session, url, token)
        root = await agent.writable_root()
        local = Path(root["physical_path"])
        local_dir = local if await asyncio.to_thread(local.is_dir) else args.workdir
        print(f"agent {url}  location {root['physical_path']}  chunk {args.chunk // 1024**2} MiB ({args.chunk_body})")
        for size in args.sizes:
            source = args.workdir / f"source-{size}.bin"
            make_source(source, size)
            file_id = await agent.fresh_file(root, f"bench-{size}.bin")
            sampler.peak = 0
            samples: dict[str, list[float]] = {}
            stream = args.chunk_body == "stream"
            for _ in range(args.repeat):  # interleaved, so agent and baselines share the machine's mood
                with sampler.watch():
                    for label, job in (
                        ("upload chunked", agent.upload_chunked(file_id, source, args.chunk, stream)),
                        ("upload single", agent.upload_whole(file_id, source)),
                        ("download", agent.download(file_id)),
                    ):
                        start = time.perf_counter()
                        await job
                        samples.setdefault(label, []).append(time.perf_counter() - start)
                copy_target = local_dir / f"bench-cp-{size}.bin"
                samples.setdefault("cp (+fsync)", []).append(await asyncio.to_thread(timed_cp, source, copy_target))
                copy_target.unlink(missing_ok=True)
                if ssh_skip is None:
                    samples.setdefault("rsync over ssh", []).append(await asyncio.to_thread(
                        timed_rsync, source, args.ssh_host, local_dir / f"bench-rsync-{size}.bin", args.ssh))
                    (local_dir / f"bench-rsync-{size}.bin").unlink(missing_ok=True)
            peaks[size] = sampler.peak
            results = {label: statistics.median(values) for label, values in samples.items()}
            await agent.call("DELETE", f"/api/files/{file_id}")
            source.unlink()
            print(f"\n{size / 1024**2:.0f} MiB (median of {args.repeat})")
            for label, seconds in results.items():
                ratio_cp = results["cp (+fsync)"] / seconds
                ratio_rsync = f"  {results['rsync over ssh'] / seconds:5.2f}x rsync" if "rsync over ssh" in results \
                    else ""
                print(f"  {label:16} {seconds:7.2f} s {rate(size, seconds)}  {ratio_cp:5.2f}x cp{ratio_rsync}")
            if pid:
                print(f"  agent peak RSS   {sampler.peak / 1024**2:7.1f} MiB")
    if ssh_skip:
        print(f"\nrsync over SSH skipped: {ssh_skip}")
    if len(peaks) > 1 and pid:
        sizes = sorted(peaks)
        growth = (peaks[sizes[-1]] - peaks[sizes[0]]) / 1024**2
        verdict = "flat" if growth < 64 else "GROWS WITH FILE SIZE"
        print(f"\npeak RSS {peaks[sizes[0]] / 1024**2:.0f} -> {peaks[sizes[-1]] / 1024**2:.0f} MiB "
              f"({growth:+.0f} MiB from {sizes[0] // 1024**2} to {sizes[-1] // 1024**2} MiB files): {verdict}")


def main() -> None:
    """Parse arguments, start or find the agent, run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--cafile")
    parser.add_argument("--agent-pid", type=int, help="for peak RSS when the agent was started elsewhere")
    parser.add_argument("--start-agent", action="store_true")
    parser.add_argument("--sizes", default="256M,1G", type=lambda s: [parse_size(x) for x in s.split(",")])
    parser.add_argument("--chunk", default="8M", type=parse_size)
    parser.add_argument("--chunk-body", choices=("stream", "bytes"), default="stream",
                        help="each chunk's body streamed in 1 MiB pieces (as curl does), or as one bytes object")
    parser.add_argument("--ssh-host", default="127.0.0.1")
    parser.add_argument("--ssh", default=SSH, help="the ssh command rsync runs (port, identity, options)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the table shows medians")
    parser.add_argument("--workdir", type=Path, default=None, help="where source files are made (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="files-bench-") as tmp:
        args.workdir = args.workdir or Path(tmp)
        if args.start_agent:
            with started_agent(Path(tmp)) as (url, token, cafile, pid):
                asyncio.run(bench(args, url, token, cafile, pid))
        elif args.url and args.token:
            asyncio.run(bench(args, args.url, args.token, args.cafile, args.agent_pid))
        else:
            parser.error("give --url and --token (and --cafile), or --start-agent")


if __name__ == "__main__":
    main()
