"""Benchmark P1: agent API throughput over TLS with wrk, against a raw aiohttp endpoint in the same run.

For each configuration size (default 10, 1,000 and 10,000 sites) it starts a real agent
(`iisfleet agent run`, HTTPS with its self-signed certificate, the embedded host running but no site
started) and a raw aiohttp server in its own process with the same certificate, the same TLS settings and
the same response bodies. wrk then measures, alternating agent and raw so both see the same machine load:

* `GET /api/webserver/websites/{id}` (one site, a different one per size);
* `GET /api/webserver/websites?application_pool.id=...`: a list of the 100 sites of one pool, so the
  answer is the same size whatever the configuration holds (all of them with fewer than 100 sites).

Each pair is repeated `--repeat` times; the table gives median requests/s and the ratio agent/raw.

    .venv/bin/python bench/agent_api_throughput.py [--sites 10,1000,10000] [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LISTED = 100
POOL = "BenchPool"
RAW_SERVER = r"""
import ssl, sys
from aiohttp import web
port, cert, key, one_type, many_type = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
one, many = open(sys.argv[6], "rb").read(), open(sys.argv[7], "rb").read()
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.minimum_version = ssl.TLSVersion.TLSv1_2
context.load_cert_chain(cert, key)
async def get_one(request):
    return web.Response(body=one, content_type=one_type, charset="utf-8")
async def get_many(request):
    return web.Response(body=many, content_type=many_type, charset="utf-8")
app = web.Application()
app.router.add_get("/one", get_one)
app.router.add_get("/many", get_many)
web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None, access_log=None)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(state: Path, count: int) -> None:
    """`count` sites, none started; the first LISTED of them in their own pool."""
    from agent.app import open_config_store
    from agent.settings import load_settings

    load_settings(state / "appsettings.json")
    content = state / "inetpub" / "wwwroot"
    content.mkdir(parents=True, exist_ok=True)
    store = open_config_store(state)
    with store.write_sync():
        store.section("system.applicationHost/applicationPools").collection().add({"name": POOL})
        sites = store.section("system.applicationHost/sites")
        for site in sites.collection():
            site.set("serverAutoStart", False)
        # Raw lxml, then mark_changed: the collection API re-indexes on every add (quadratic for 10,000).
        parent = sites.element
        assert parent is not None
        anchor = parent.find("siteDefaults")
        for n in range(2, count + 2):
            site = etree.Element("site", {"name": f"site{n}", "id": str(n), "serverAutoStart": "false"})
            pool = POOL if n <= LISTED + 1 else "DefaultAppPool"
            etree.SubElement(etree.SubElement(site, "bindings"), "binding",
                             {"protocol": "http", "bindingInformation": f"*:{20000 + n % 20000}:s{n}"})
            app = etree.SubElement(site, "application", {"path": "/", "applicationPool": pool})
            etree.SubElement(app, "virtualDirectory", {"path": "/", "physicalPath": str(content)})
            if anchor is not None:
                anchor.addprevious(site)
            else:
                parent.append(site)
        store.mark_changed()


def _get(url: str, token: str | None, context: ssl.SSLContext) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"Access-Token": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310 - loopback https
        return response.read(), str(response.headers.get("Content-Type", "")).split(";")[0]


def _wait(url: str, context: ssl.SSLContext) -> None:
    for _ in range(600):
        try:
            _get(url, None, context)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def _settle(pid: int) -> None:
    """Wait until the agent has finished starting up (the embedded host reconciling 10,000 sites takes a while)."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + 120
    while proc.cpu_percent(interval=1.0) > 10 and time.monotonic() < deadline:
        pass


def wrk(url: str, seconds: int, connections: int, token: str | None) -> float:
    """Requests/s from one wrk run (fails on any non-2xx answer)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Access-Token: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(out)
    return float(match.group(1))


def measure(count: int, seconds: int, repeat: int, connections: int) -> dict[str, float]:
    """Start agent and raw server for one configuration size; medians of `repeat` alternating wrk runs."""
    from agent.security.api_key_store import ApiKeyStore
    from agent.security.tls import certificate_path, key_path

    state = Path(tempfile.mkdtemp(prefix=f"bench-tput-{count}-"))
    seed(state, count)
    _key, token = ApiKeyStore(state / "api-keys.json").create("bench", None)
    port, raw_port = _free_port(), _free_port()
    agent = subprocess.Popen(
        [sys.executable, "-m", "iisfleet", "agent", "run", "--state-dir", str(state), "--address", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw: subprocess.Popen[bytes] | None = None
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    base = f"https://127.0.0.1:{port}"
    try:
        _wait(f"{base}/api/ping", insecure)
        _settle(agent.pid)
        pools, _ = _get(f"{base}/api/webserver/application-pools", token, insecure)
        pool_id = next(p["id"] for p in json.loads(pools)["app_pools"] if p["name"] == POOL)
        list_url = f"{base}/api/webserver/websites?application_pool.id={pool_id}"
        many, many_type = _get(list_url, token, insecure)
        ids = [s["id"] for s in json.loads(many)["websites"]]
        assert len(ids) == min(LISTED, count), len(ids)
        one_url = f"{base}/api/webserver/websites/{ids[len(ids) // 2]}"
        one, one_type = _get(one_url, token, insecure)
        (state / "one.json").write_bytes(one)
        (state / "many.json").write_bytes(many)
        raw = subprocess.Popen(
            [sys.executable, "-c", RAW_SERVER, str(raw_port), str(certificate_path(state)), str(key_path(state)),
             one_type, many_type, str(state / "one.json"), str(state / "many.json")])
        raw_base = f"https://127.0.0.1:{raw_port}"
        _wait(f"{raw_base}/one", insecure)
        for url, auth in ((one_url, token), (list_url, token), (f"{raw_base}/one", None)):
            wrk(url, 1, connections, auth)  # warm-up: first token check, caches, code paths
        samples: dict[str, list[float]] = {"one": [], "one_raw": [], "list": [], "list_raw": []}
        for _ in range(repeat):
            samples["one"].append(wrk(one_url, seconds, connections, token))
            samples["one_raw"].append(wrk(f"{raw_base}/one", seconds, connections, None))
            samples["list"].append(wrk(list_url, seconds, connections, token))
            samples["list_raw"].append(wrk(f"{raw_base}/many", seconds, connections, None))
        result = {name: statistics.median(values) for name, values in samples.items()}
        result["one_bytes"], result["list_bytes"] = len(one), len(many)
        return result
    finally:
        for proc in (raw, agent):
            if proc is not None:
                proc.terminate()
                proc.wait(15)
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    """Every size; a Markdown table of median requests/s and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", default="10,1000,10000")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.repeat}, TLS on loopback")
    print("| sites | GET site req/s (raw) | ratio | list 100 req/s (raw) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for count in (int(n) for n in args.sites.split(",")):
        r = measure(count, args.seconds, args.repeat, args.connections)
        print(f"| {count:,} | {r['one']:,.0f} ({r['one_raw']:,.0f}) | {r['one'] / r['one_raw']:.2f} "
              f"| {r['list']:,.0f} ({r['list_raw']:,.0f}) | {r['list'] / r['list_raw']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
