"""The controller's /metrics: fleet aggregates in the Prometheus text exposition format (0.0.4).

Built per scrape from Redis (so any API process answers the same), written directly rather than through
prometheus_client collectors. At 10,000 agents of 10 pools a scrape is 200,000 per-pool lines, so the work is
laid out for that size:

- each online agent's part of the scrape (its per-pool lines as bytes, its counts and rates) is an
  `AgentBlock` kept between scrapes and reused while the agent's name and the exact text of its heartbeat
  summary are unchanged: a string comparison instead of a JSON parse and 20 formatted lines;
- the directory (names, labels, each agent's `iisfleet_agent_up` label text) is kept under its version
  counter, like the http_sd body;
- Redis is read in three round trips whatever the fleet's size: directory version plus online ids, the
  directory only when its version moved, and one MGET of the online agents' summaries.

Every scrape reads the current version and summaries, so a reused part is always the part a fresh render
would build: the output is the same bytes as rendering from scratch (tests/controller/test_fleet_metrics.py
compares the two).
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from controller.auth.roles import in_scope
from controller.store import FleetStore

POOL_STATES = ("started", "stopped", "starting", "stopping", "unknown")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATE = "iisfleet_app_pool_state"
STARTS = "iisfleet_app_pool_worker_starts_total"


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses and json reads: integers past 64 bits, NaN
        return json.loads(text)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _head(name: str, kind: str, doc: str) -> str:
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


def _family(name: str, kind: str, doc: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> str:
    """A small family (fleet totals): one formatted line per sample."""
    out = [_head(name, kind, doc)]
    for labels, value in samples:
        text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        out.append(f"{name}{{{text}}} {float(value)!r}\n" if text else f"{name} {float(value)!r}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class AgentBlock:
    """One online agent's part of a scrape, built from its name and heartbeat summary text."""

    name: str
    summary: str
    site_states: list[str]
    pool_states: list[str]
    site_rps: list[tuple[str, float]]
    pool_rps: list[tuple[str, float]]
    states: bytes
    """Its `iisfleet_app_pool_state` lines."""
    starts: bytes
    """Its `iisfleet_app_pool_worker_starts_total` lines."""


class Tails:
    """Per-pool line endings (`",app_pool="P",state="S"} 1.0`), escaped and formatted once per distinct pair.

    The same few pool names and states recur on every agent, so a line is the agent's head plus a looked-up
    tail. Cleared when it grows past `LIMIT` (pool names are the agents' to choose).
    """

    LIMIT = 100_000

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], str] = {}
        self.starts: dict[tuple[str, int], str] = {}

    def trim(self) -> None:
        """Start over when the tables grew past the limit."""
        if len(self.state) + len(self.starts) > self.LIMIT:
            self.state.clear()
            self.starts.clear()


def agent_block(name: str, summary: str, tails: Tails) -> AgentBlock:
    """Parse a stored summary (see services/heartbeats.py) and render this agent's per-pool lines."""
    data = _loads(summary)
    sites: dict[str, list[Any]] = data.get("sites", {})
    pools: dict[str, list[Any]] = data.get("pools", {})
    state_tails, starts_tails = tails.state, tails.starts
    pool_states, pool_rps, states, starts = [], [], [], []
    for pool, (status, _total, rps, count) in pools.items():
        pool_states.append(status)
        pool_rps.append((pool, rps))
        tail = state_tails.get((pool, status))
        if tail is None:
            tail = state_tails[pool, status] = f'",app_pool="{_escape(pool)}",state="{_escape(status)}"}} 1.0\n'
        states.append(tail)
        if count is not None:
            count = int(count)
            tail = starts_tails.get((pool, count))
            if tail is None:
                tail = starts_tails[pool, count] = f'",app_pool="{_escape(pool)}"}} {float(count)!r}\n'
            starts.append(tail)
    agent = _escape(name)
    state_head, starts_head = f'{STATE}{{agent="{agent}', f'{STARTS}{{agent="{agent}'
    return AgentBlock(
        name,
        summary,
        [status for status, _total, _rps in sites.values()],
        pool_states,
        [(site, rps) for site, (_status, _total, rps) in sites.items()],
        pool_rps,
        (state_head + state_head.join(states)).encode() if states else b"",
        (starts_head + starts_head.join(starts)).encode() if starts else b"",
    )


@dataclass(frozen=True, slots=True)
class Listed:
    """A directory entry as a scrape needs it."""

    agent_id: str
    labels: dict[str, str]
    up: bytes
    """The `iisfleet_agent_up` line up to its value."""
    name: str


def _listed(directory: Mapping[str, Mapping[str, object]]) -> list[Listed]:
    rows = []
    for agent_id, entry in sorted(directory.items()):
        name = str(entry["name"])
        labels: dict[str, str] = dict(entry["labels"])  # type: ignore[call-overload]
        up = f'iisfleet_agent_up{{agent="{_escape(name)}",agent_id="{_escape(agent_id)}"}} '.encode()
        rows.append(Listed(agent_id, labels, up, name))
    return rows


def _by_state(counts: Mapping[str, int]) -> list[tuple[Mapping[str, str], float]]:
    return [({"state": state}, counts.get(state, 0)) for state in sorted(set(POOL_STATES) | set(counts))]


def render(agents: list[tuple[Listed, bool]], blocks: list[AgentBlock]) -> bytes:
    """The exposition text: every agent's up line, fleet totals, then the online agents' per-pool lines."""
    sites_by_state: Counter[str] = Counter()
    pools_by_state: Counter[str] = Counter()
    site_rps: defaultdict[str, float] = defaultdict(float)
    pool_rps: defaultdict[str, float] = defaultdict(float)
    for block in blocks:  # agent by agent, in id order, as a per-line sum would add them
        sites_by_state.update(block.site_states)
        pools_by_state.update(block.pool_states)
        for site, rps in block.site_rps:
            site_rps[site] += rps
        for pool, rps in block.pool_rps:
            pool_rps[pool] += rps
    online = sum(1 for _listed, up in agents if up)
    out = [_head("iisfleet_agent_up", "gauge", "1 if the agent's heartbeats arrive in time").encode()]
    out.extend(row.up + (b"1.0\n" if up else b"0.0\n") for row, up in agents)
    totals = [
        _family(
            "iisfleet_agents",
            "gauge",
            "Enrolled agents by status",
            [({"status": "online"}, online), ({"status": "offline"}, len(agents) - online)],
        ),
        _family("iisfleet_fleet_app_pools", "gauge", "Application pools on online agents by state",
                _by_state(pools_by_state)),
        _family("iisfleet_fleet_sites", "gauge", "Sites on online agents by state", _by_state(sites_by_state)),
        _family(
            "iisfleet_fleet_site_requests_per_second",
            "gauge",
            "Requests per second per site, summed over agents",
            (({"site": site}, rps) for site, rps in sorted(site_rps.items())),
        ),
        _family(
            "iisfleet_fleet_app_pool_requests_per_second",
            "gauge",
            "Requests per second per application pool, summed over agents",
            (({"app_pool": pool}, rps) for pool, rps in sorted(pool_rps.items())),
        ),
        _head(STATE, "gauge", "1 for the current state of each pool of each online agent"),
    ]
    out.append("".join(totals).encode())
    out.extend(block.states for block in blocks)
    out.append(_head(STARTS, "counter", "Worker processes started per pool, as the agent reports it").encode())
    out.extend(block.starts for block in blocks)
    return b"".join(out)


class FleetMetrics:
    """One API process's /metrics renderer with what it keeps between scrapes (see the module docstring)."""

    def __init__(self) -> None:
        self._directory: tuple[str, list[Listed]] = ("", [])
        self._blocks: dict[str, AgentBlock] = {}
        self._tails = Tails()

    async def scrape(self, store: FleetStore, offline_after: float, scope: Mapping[str, str] | None = None) -> bytes:
        """The exposition text for the agents inside `scope` (all without one)."""
        version, seen = await store.directory_version_and_seen(time.time() - offline_after)
        if version != self._directory[0]:
            snapshot_version, directory = await store.directory_snapshot()
            self._directory = (snapshot_version, _listed(directory))
        listed = self._directory[1]
        if scope:
            listed = [row for row in listed if in_scope(scope, row.labels)]
        agents = [(row, row.agent_id in seen) for row in listed]
        online = [row for row, up in agents if up]
        summaries = await store.summaries([row.agent_id for row in online])
        kept, tails = self._blocks, self._tails
        tails.trim()
        fresh: dict[str, AgentBlock] = {}
        blocks: list[AgentBlock] = []
        # Parsing 10,000 summaries makes ~300,000 short-lived, acyclic containers (freed by reference
        # counting): without this pause the cyclic collector runs hundreds of passes during one scrape (a
        # third of its time). No await in between, so nothing else runs meanwhile in this thread.
        paused = gc.isenabled()
        gc.disable()
        try:
            for row, summary in zip(online, summaries, strict=True):
                if not summary:
                    continue
                block = kept.get(row.agent_id)
                if block is None or block.summary != summary or block.name != row.name:
                    block = agent_block(row.name, summary, tails)
                fresh[row.agent_id] = block
                blocks.append(block)
        finally:
            if paused:
                gc.enable()
        if scope:
            kept.update(fresh)  # a scoped scrape sees part of the fleet: it must not evict the rest
        else:
            self._blocks = fresh  # agents gone or offline leave the cache
        return render(agents, blocks)
