"""IisHost: the Host protocol on Windows, over appcmd.exe (sites, pools, workers), sc.exe and typeperf.exe.

IIS itself runs the configuration: WAS watches applicationHost.config, which the API edits in place, so
this host only starts, stops and recycles, and reports what WAS says. Status reads are synchronous in the
Host protocol, so they answer from a cache that one refresh fills (`appcmd list site /xml`, `list apppool
/xml`, `list wp /xml`, `list request /xml`, `sc query W3SVC`); a list endpoint never spawns a tool per
item. A background poll keeps the cache fresh; a read of a stale cache schedules a refresh and answers
with what it has. Counters are sampled on their own, slower cadence because typeperf takes a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis import appcmd, counters, perflib, service
from agent.hosting.iis.appcmd import Appcmd, FeatureNotInstalled, PoolRecord, RequestRecord, SiteRecord, WorkerRecord
from agent.hosting.iis.counters import WAS, WEB, CounterValues, Names, Typeperf
from agent.hosting.iis.perflib import Perflib
from agent.hosting.iis.service import ServiceControl
from agent.hosting.runtime_types import (
    COUNTED_METHODS,
    HostSnapshot,
    PoolSnapshot,
    RequestSnapshot,
    SiteSnapshot,
    WorkerSnapshot,
)
from shared.asyncio_utils import create_task
from shared.errors import ApiError, NotFound

log = logging.getLogger("iisfleet.hosting.iis")
T = TypeVar("T")
STATUS_TTL = 2.0
COUNTERS_TTL = 5.0
POLL_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class IisTools:
    """Where the Windows tools are; tests point these at recorded fakes run by `launcher`."""

    appcmd: Path = appcmd.DEFAULT_PATH
    typeperf: Path = counters.DEFAULT_PATH
    sc: Path = service.DEFAULT_PATH
    reg: Path = perflib.DEFAULT_PATH
    launcher: tuple[str, ...] = ()
    timeout: float = 15.0
    settle: float = 30.0
    codepage: str | None = None  # how tool output is decoded when not UTF-8; None: the console's


@dataclass(slots=True)
class _State:
    sites: dict[str, SiteRecord]
    pools: dict[str, PoolRecord]
    workers: list[WorkerRecord]
    requests: list[RequestRecord]
    server: RuntimeStatus


class IisHost:
    """Runtime control of IIS through appcmd.exe, sc.exe and typeperf.exe."""

    name = "iis"

    def __init__(
        self, store: Any, tools: IisTools | None = None, *, status_ttl: float = STATUS_TTL,
        counters_ttl: float = COUNTERS_TTL, poll_interval: float = POLL_INTERVAL,
    ) -> None:  # fmt: skip
        self.store = store
        self.tools = tools = tools or IisTools()
        self.appcmd = Appcmd(tools.appcmd, tools.timeout, tools.launcher, tools.codepage)
        self.typeperf = Typeperf(tools.typeperf, tools.timeout, tools.launcher, codepage=tools.codepage)
        self.service = ServiceControl(tools.sc, timeout=tools.timeout, settle=tools.settle, launcher=tools.launcher,
                                      codepage=tools.codepage)  # fmt: skip
        self.perflib = Perflib(tools.reg, tools.timeout, tools.launcher, tools.codepage)
        # None until `appcmd list request` has answered; False without the Request Monitor role service.
        self.request_monitor_installed: bool | None = None
        self.status_ttl, self.counters_ttl, self.poll_interval = status_ttl, counters_ttl, poll_interval
        self.state = _State({}, {}, [], [], RuntimeStatus.UNKNOWN)
        self.counters = CounterValues()
        self.refreshed_at = self.counters_at = float("-inf")
        self.last_error = ""
        self._refresh_lock = asyncio.Lock()
        self._counters_lock = asyncio.Lock()
        self._kicked: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._first_seen: dict[int, float] = {}
        # Requests served by workers that have exited, per pool: W3SVC_W3WP totals die with their process.
        self._retired: dict[str, int] = {}
        self._served: dict[tuple[str, int], int] = {}

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the state once (failing loudly if IIS is missing), then keep it fresh in the background."""
        await self.refresh(force=True)
        await self._sample_quietly()
        self._poller = create_task(self._poll(), name="iis host poll")

    async def close(self) -> None:
        """Stop polling; IIS keeps running, it is not ours to stop."""
        for task in (self._poller, self._kicked):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._poller = self._kicked = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except ApiError as err:
                log.warning("iis status refresh failed; keeping the last state: %s", err)
            await self._sample_quietly()

    async def _sample_quietly(self) -> None:
        try:
            await self.sample_counters()
        except ApiError as err:
            log.warning("iis counters unavailable; monitoring keeps the last sample: %s", err)

    # -- refresh ------------------------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> None:
        """Re-read sites, pools, workers, requests and W3SVC, unless the cache is younger than status_ttl."""
        async with self._refresh_lock:
            if not force and time.monotonic() - self.refreshed_at < self.status_ttl:
                return
            # A TaskGroup, not gather: when one listing fails the others are cancelled (and their tools killed).
            try:
                async with asyncio.TaskGroup() as group:
                    sites = group.create_task(self.appcmd.list_sites())
                    pools = group.create_task(self.appcmd.list_pools())
                    workers = group.create_task(_or_empty(self.appcmd.list_workers))
                    requests = group.create_task(_or_empty(self._requests))
                    server = group.create_task(self.service.query())
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            self.state = _State(
                {s.name.lower(): s for s in sites.result()}, {p.name.lower(): p for p in pools.result()},
                workers.result(), requests.result(), server.result(),
            )  # fmt: skip
            self.refreshed_at = time.monotonic()
            self._track_workers(self.state.workers)

    async def sample_counters(self, *, force: bool = False) -> None:
        """Take one typeperf sample, unless the last is younger than counters_ttl."""
        async with self._counters_lock:
            if not force and time.monotonic() - self.counters_at < self.counters_ttl:
                return
            names = await self._counter_names()
            try:
                self.counters = await self.typeperf.sample(names)
            except ApiError:
                self.perflib.invalidate()  # "No valid counters": maybe the counter set changed
                raise
            if not self.counters.values.get(WEB.lower()):
                self.perflib.invalidate()  # look at Last Counter again on the next sample
            self.counters_at = time.monotonic()
            self._fold_served()

    async def _counter_names(self) -> Names:
        try:
            return await self.perflib.names(self.typeperf.counters)
        except ApiError as err:
            log.warning("perflib counter index unreadable; asking typeperf in English: %s", err)
            return {}

    async def _requests(self) -> list[RequestRecord]:
        try:
            found = await self.appcmd.list_requests()
        except FeatureNotInstalled:
            if self.request_monitor_installed is not False:
                log.warning("appcmd list request: not implemented; the Request Monitor role service "
                            "(Web-Request-Monitor) is not installed: no requests in flight are reported")  # fmt: skip
            self.request_monitor_installed = False
            return []
        self.request_monitor_installed = True
        return found

    def _kick(self) -> None:
        # A synchronous status read on a stale cache: refresh in the background, answer with what we have.
        if time.monotonic() - self.refreshed_at < self.status_ttl or (self._kicked and not self._kicked.done()):
            return
        with contextlib.suppress(RuntimeError):  # no running loop: a tool or a test outside asyncio
            self._kicked = create_task(self._refresh_quietly(), name="iis status refresh")

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except ApiError as err:
            log.warning("iis status refresh failed: %s", err)

    # -- Host protocol ------------------------------------------------------------------------------
    @property
    def runtime_version(self) -> int | None:
        """None: IIS changes state behind our back (appcmd is polled), so answers with statuses are not cached."""
        return None

    def site_status(self, site_name: str) -> RuntimeStatus:
        """The site's state as appcmd last reported it."""
        self._kick()
        site = self.state.sites.get(site_name.lower())
        return site.state if site else RuntimeStatus.UNKNOWN

    def pool_status(self, pool_name: str) -> RuntimeStatus:
        """The pool's state as appcmd last reported it (APP_POOL_WAS when appcmd says unknown)."""
        self._kick()
        pool = self.state.pools.get(pool_name.lower())
        if pool is None:
            return RuntimeStatus.UNKNOWN
        return pool.state if pool.state != RuntimeStatus.UNKNOWN else self.counters.pool_state(pool.name)

    def server_status(self) -> RuntimeStatus:
        """W3SVC's state as sc.exe last reported it."""
        self._kick()
        return self.state.server

    async def start_site(self, site_name: str) -> None:
        """`appcmd start site`: HTTP.sys listens on the site's bindings."""
        await self._act(self.appcmd.site, "start", await self._site(site_name))

    async def stop_site(self, site_name: str) -> None:
        """`appcmd stop site`: the bindings are released; workers keep running."""
        await self._act(self.appcmd.site, "stop", await self._site(site_name))

    async def start_pool(self, pool_name: str) -> None:
        """`appcmd start apppool`."""
        await self._act(self.appcmd.pool, "start", await self._pool(pool_name))

    async def stop_pool(self, pool_name: str) -> None:
        """`appcmd stop apppool`: WAS shuts its workers down and its applications answer 503."""
        await self._act(self.appcmd.pool, "stop", await self._pool(pool_name))

    async def recycle_pool(self, pool_name: str) -> None:
        """`appcmd recycle apppool`: an overlapped recycle by WAS."""
        await self._act(self.appcmd.pool, "recycle", await self._pool(pool_name))

    async def start_server(self) -> None:
        """`sc start W3SVC`, waiting for RUNNING."""
        await self.service.change("start")
        await self.refresh(force=True)

    async def stop_server(self) -> None:
        """`sc stop W3SVC`, waiting for STOPPED."""
        await self.service.change("stop")
        await self.refresh(force=True)

    # -- monitoring ---------------------------------------------------------------------------------
    def snapshot(self) -> HostSnapshot:
        """Sites, pools, workers and requests from the last refresh, traffic from the last counter sample."""
        self._kick()
        state, values = self.state, self.counters
        sites_by_id = {s.id: s.name for s in state.sites.values()}
        pool_of = {w.pid: w.pool for w in state.workers}
        inflight: dict[int, list[RequestSnapshot]] = {}
        for r in state.requests:
            pool = pool_of.get(r.pid, r.pool)
            inflight.setdefault(r.pid, []).append(_request(r, sites_by_id.get(r.site_id, ""), pool))
        active_by_site: dict[str, int] = {}
        for r in state.requests:
            name = sites_by_id.get(r.site_id, "")
            active_by_site[name] = active_by_site.get(name, 0) + 1
        sites = {s.name: _site(s, values, active_by_site.get(s.name, 0)) for s in state.sites.values()}
        w3wp = values.workers()
        pools = {}
        for p in state.pools.values():
            workers = tuple(
                WorkerSnapshot(
                    pid=w.pid,
                    pool=p.name,
                    state="running",
                    started_at=self._first_seen.get(w.pid, 0.0),
                    requests_total=int(w3wp.get(w.pid, ("", {}))[1].get("total http requests served", 0)),
                    requests_active=int(w3wp.get(w.pid, ("", {}))[1].get("active requests", 0)),
                    requests=tuple(inflight.get(w.pid, ())),
                )  # fmt: skip
                for w in state.workers
                if w.pool.lower() == p.name.lower()
            )
            pools[p.name] = PoolSnapshot(
                name=p.name, state=self.pool_status(p.name), requests_total=self._pool_requests(p.name),
                recycles=values.count(WAS, p.name, "Total Application Pool Recycles"),
                recent_crashes=values.count(WAS, p.name, "Recent Worker Process Failures"),
                worker_starts=values.count(WAS, p.name, "Total Worker Processes Created"), workers=workers,
            )  # fmt: skip
        return HostSnapshot(server_state=state.server, taken_at=time.time(), sites=sites, pools=pools)

    # -- helpers ------------------------------------------------------------------------------------
    async def _act(self, action: Callable[[str, str], Awaitable[None]], verb: str, name: str) -> None:
        try:
            await action(verb, name)
        finally:
            # Whatever appcmd said, the next status read must reflect what WAS now reports.
            self.refreshed_at = float("-inf")
        with contextlib.suppress(ApiError):
            await self.refresh(force=True)

    async def _site(self, name: str) -> str:
        return (await self._lookup(lambda: self.state.sites, name, "site", "Site")).name

    async def _pool(self, name: str) -> str:
        return (await self._lookup(lambda: self.state.pools, name, "application_pool", "Application pool")).name

    async def _lookup(self, table: Callable[[], dict[str, T]], name: str, kind: str, label: str) -> T:
        await self.refresh()
        found = table().get(name.lower())
        if found is None:
            # Created in applicationHost.config a moment ago: WAS may list it only now.
            await self.refresh(force=True)
            found = table().get(name.lower())
        if found is None:
            raise NotFound(name=kind, detail=f"{label} {name!r} does not exist in IIS.")
        return found

    def _track_workers(self, workers: list[WorkerRecord]) -> None:
        live = {w.pid for w in workers}
        for pid in live - self._first_seen.keys():
            self._first_seen[pid] = _create_time(pid)
        for pid in self._first_seen.keys() - live:
            del self._first_seen[pid]

    def _fold_served(self) -> None:
        # Keep per-pool request totals monotonic across recycles, as the embedded host's are.
        current = {(pool.lower(), pid): int(c.get("total http requests served", 0))
                   for pid, (pool, c) in self.counters.workers().items()}  # fmt: skip
        for key, served in self._served.items():
            if key not in current:
                self._retired[key[0]] = self._retired.get(key[0], 0) + served
        self._served = current

    def _pool_requests(self, pool: str) -> int:
        key = pool.lower()
        return self._retired.get(key, 0) + sum(v for (p, _pid), v in self._served.items() if p == key)


async def _or_empty(call: Callable[[], Awaitable[list[T]]]) -> list[T]:
    # With W3SVC stopped appcmd may refuse to list workers or requests; there are none to report then.
    try:
        return await call()
    except ApiError as err:
        log.debug("appcmd listing failed, reporting none: %s", err)
        return []


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return time.time()


def _request(r: RequestRecord, site: str, pool: str) -> RequestSnapshot:
    try:
        rid = int(r.id, 16)  # appcmd request ids are 16 hex digits
    except ValueError:
        rid = 0
    return RequestSnapshot(id=rid, method=r.verb, url=r.url, host="", client=r.client, site=site, pool=pool,
                           worker_pid=r.pid, elapsed_ms=r.elapsed_ms, stage=r.stage)  # fmt: skip


def _site(s: SiteRecord, values: CounterValues, active: int) -> SiteSnapshot:
    statuses = {404: values.count(WEB, s.name, "Total Not Found Errors"),
                423: values.count(WEB, s.name, "Total Locked Errors")}  # fmt: skip
    return SiteSnapshot(
        name=s.name, id=s.id, state=s.state, error="", requests_active=active,
        requests_total=values.count(WEB, s.name, "Total Method Requests"),
        bytes_sent=values.count(WEB, s.name, "Total Bytes Sent"),
        bytes_received=values.count(WEB, s.name, "Total Bytes Received"),
        connections_current=values.count(WEB, s.name, "Current Connections"),
        # IIS counts attempts, refused ones included; the snapshot's total + refused must equal that.
        connections_total=values.count(WEB, s.name, "Total Connection Attempts (all instances)"),
        connections_refused=0, status_counts={code: n for code, n in statuses.items() if n},
        method_counts={m: int(n) for m in COUNTED_METHODS
                       if (n := values.get(WEB, s.name, f"Total {m.title()} Requests")) is not None},
    )  # fmt: skip
