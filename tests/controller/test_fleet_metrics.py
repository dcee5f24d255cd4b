"""The fleet /metrics: the same bytes as a from-scratch render, scrape after scrape, while parts are reused.

`_reference` is the straightforward renderer the controller used before per-agent parts were kept between
scrapes (parse every summary, one formatted line per sample); the kept parts must never make the output
differ from it, whatever changed in between (summaries, names, agents deleted or gone offline, scopes).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import metrics
from controller.app import open_redis
from controller.store import FleetStore

OFFLINE_AFTER = 45.0
STATES = ("started", "stopped", "starting", "stopping", "unknown", "od\"d")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: Mapping[str, str], value: float) -> str:
    text = ",".join(f'{key}="{_esc(val)}"' for key, val in labels.items())
    return f"{name}{{{text}}} {float(value)!r}\n"


def _reference(
    directory: Mapping[str, Mapping[str, Any]], seen: Mapping[str, float], summaries: Mapping[str, str],
    scope: Mapping[str, str] | None = None,
) -> bytes:
    now = time.time()
    agents = [
        (agent_id, entry["name"], agent_id in seen and now - seen[agent_id] <= OFFLINE_AFTER)
        for agent_id, entry in sorted(directory.items())
        if all(entry["labels"].get(k) == v for k, v in (scope or {}).items())
    ]
    sites: Counter[str] = Counter()
    pools: Counter[str] = Counter()
    site_rps: defaultdict[str, float] = defaultdict(float)
    pool_rps: defaultdict[str, float] = defaultdict(float)
    states, starts = [], []
    for agent_id, name, up in agents:
        if not up or not summaries.get(agent_id):
            continue
        summary = json.loads(summaries[agent_id])
        for site, (status, _total, rps) in summary.get("sites", {}).items():
            sites[status] += 1
            site_rps[site] += rps
        for pool, (status, _total, rps, count) in summary.get("pools", {}).items():
            pools[status] += 1
            pool_rps[pool] += rps
            states.append(_line("iisfleet_app_pool_state", {"agent": name, "app_pool": pool, "state": status}, 1.0))
            if count is not None:
                starts.append(_line("iisfleet_app_pool_worker_starts_total", {"agent": name, "app_pool": pool},
                                    int(count)))

    def head(name: str, kind: str, doc: str) -> str:
        return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"

    def by_state(name: str, doc: str, counts: Counter[str]) -> str:
        keys = sorted(set(metrics.POOL_STATES) | set(counts))
        return head(name, "gauge", doc) + "".join(_line(name, {"state": k}, counts.get(k, 0)) for k in keys)

    online = sum(1 for *_rest, up in agents if up)
    out = [head("iisfleet_agent_up", "gauge", "1 if the agent's heartbeats arrive in time")]
    out += [_line("iisfleet_agent_up", {"agent": name, "agent_id": a}, 1.0 if up else 0.0) for a, name, up in agents]
    out.append(head("iisfleet_agents", "gauge", "Enrolled agents by status"))
    out += [_line("iisfleet_agents", {"status": "online"}, online),
            _line("iisfleet_agents", {"status": "offline"}, len(agents) - online)]
    out.append(by_state("iisfleet_fleet_app_pools", "Application pools on online agents by state", pools))
    out.append(by_state("iisfleet_fleet_sites", "Sites on online agents by state", sites))
    out.append(head("iisfleet_fleet_site_requests_per_second", "gauge",
                    "Requests per second per site, summed over agents"))
    out += [_line("iisfleet_fleet_site_requests_per_second", {"site": s}, v) for s, v in sorted(site_rps.items())]
    out.append(head("iisfleet_fleet_app_pool_requests_per_second", "gauge",
                    "Requests per second per application pool, summed over agents"))
    out += [_line("iisfleet_fleet_app_pool_requests_per_second", {"app_pool": p}, v)
            for p, v in sorted(pool_rps.items())]
    out.append(head("iisfleet_app_pool_state", "gauge", "1 for the current state of each pool of each online agent"))
    out += states
    out.append(head("iisfleet_app_pool_worker_starts_total", "counter",
                    "Worker processes started per pool, as the agent reports it"))
    out += starts
    return "".join(out).encode()


class Fleet:
    """Agents written through the store's own calls, with a mirror of what they should show."""

    def __init__(self, store: FleetStore, rng: random.Random) -> None:
        self.store, self.rng = store, rng
        self.directory: dict[str, dict[str, Any]] = {}
        self.seen: dict[str, float] = {}
        self.summaries: dict[str, str] = {}

    async def enroll(self, agent_id: str, name: str, labels: dict[str, str]) -> None:
        await self.store.put_agent(agent_id, {"name": name, "url": "https://127.0.0.1:1", "labels": json.dumps(labels)})
        self.directory[agent_id] = {"name": name, "url": "https://127.0.0.1:1", "labels": labels}

    async def beat(self, agent_id: str, age: float = 0.0) -> None:
        rng = self.rng
        pools = {
            rng.choice(["DefaultAppPool", 'Po"ol\\1', "pool\nnl", f"p{rng.randint(0, 30)}", "ünï"]): [
                rng.choice(STATES), rng.randint(0, 10**6), rng.choice([0.0, 0.1, 1 / 3, 12.5, 7]),
                rng.choice([None, 0, 3, 10**17, 10**20]),  # past 64 bits: the json fallback
            ]
            for _ in range(rng.randint(0, 6))
        }
        sites = {f"site{rng.randint(0, 9)}": [rng.choice(STATES), None, rng.random() * 100] for _ in range(4)}
        summary = json.dumps({"ts": time.time(), "sites": sites, "pools": pools}, separators=(",", ":"))
        seen = time.time() - age
        assert await self.store.record_heartbeat(agent_id, seen, "{}", summary)
        self.seen[agent_id], self.summaries[agent_id] = seen, summary

    async def delete(self, agent_id: str) -> None:
        assert await self.store.delete_agent(agent_id)
        for mirror in (self.directory, self.seen, self.summaries):
            mirror.pop(agent_id, None)

    def reference(self, scope: Mapping[str, str] | None = None) -> bytes:
        return _reference(self.directory, self.seen, self.summaries, scope)


@pytest.fixture
async def fleet(redis_url: str, prefix: str) -> AsyncIterator[Fleet]:
    redis = open_redis(redis_url)
    store = FleetStore(redis, prefix)
    try:
        yield Fleet(store, random.Random(12))
    finally:
        await store.clear()
        await redis.aclose()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    real = metrics.agent_block

    def counted(name: str, summary: str, tails: metrics.Tails) -> metrics.AgentBlock:
        built.append(name)
        return real(name, summary, tails)

    monkeypatch.setattr(metrics, "agent_block", counted)
    return built


async def test_scrapes_equal_a_fresh_render_while_parts_are_reused(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(40):
        labels = {"env": "prod" if index % 3 else "test", "dc": f"dc{index % 2}"}
        await fleet.enroll(f"{index:04x}", f'web{index}"\\' if index % 7 == 0 else f"web{index}", labels)
        if index % 9 != 4:  # a few never sent a heartbeat
            await fleet.beat(f"{index:04x}", age=1000.0 if index % 5 == 0 else 0.0)
    built = _counting(monkeypatch)
    renderer = metrics.FleetMetrics()
    store = fleet.store
    first = await renderer.scrape(store, OFFLINE_AFTER)
    assert first == fleet.reference()
    fresh_parts = len(built)
    assert fresh_parts > 20

    # Nothing changed: every part is reused, and the bytes are the same.
    built.clear()
    assert await renderer.scrape(store, OFFLINE_AFTER) == first and built == []

    # Two heartbeats, a rename, a deletion, an agent gone offline, one come back: only those are rebuilt.
    await fleet.beat("0001")
    await fleet.beat("0002")
    await fleet.enroll("0003", "renamed-3", fleet.directory["0003"]["labels"])
    await fleet.delete("0006")
    await fleet.beat("0007", age=1000.0)
    await fleet.beat("000a")
    built.clear()
    second = await renderer.scrape(store, OFFLINE_AFTER)
    assert second == fleet.reference() and second != first
    assert sorted(built) == sorted(["web1", "web2", "renamed-3", "web10"])
    assert b'agent="renamed-3"' in second and b'agent="web3"' not in second and b'agent_id="0006"' not in second

    # A scoped key sees its part of the fleet; it neither evicts nor corrupts the unscoped view.
    scope = {"env": "test"}
    scoped = await renderer.scrape(store, OFFLINE_AFTER, scope)
    assert scoped == fleet.reference(scope) and scoped != second
    built.clear()
    assert await renderer.scrape(store, OFFLINE_AFTER) == second and built == []


async def test_output_parses_as_prometheus_text(fleet: Fleet) -> None:
    await fleet.enroll("a1", 'we"b\\1', {})
    await fleet.enroll("a2", "db", {})
    summary = {"ts": 1.0, "sites": {"s": ["started", 5, 2.5]}, "pools": {"Pool\n1": ["started", 5, 2.5, 3]}}
    assert await fleet.store.record_heartbeat("a1", time.time(), "{}", json.dumps(summary))
    text = (await metrics.FleetMetrics().scrape(fleet.store, OFFLINE_AFTER)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert [s.value for s in families["iisfleet_agents"].samples] == [1.0, 1.0]
    assert families["iisfleet_agent_up"].samples[0].labels == {"agent": 'we"b\\1', "agent_id": "a1"}
    assert families["iisfleet_app_pool_state"].samples[0].labels["app_pool"] == "Pool\n1"
    assert families["iisfleet_app_pool_worker_starts"].samples[0].value == 3.0
    assert families["iisfleet_fleet_site_requests_per_second"].samples[0].value == 2.5
