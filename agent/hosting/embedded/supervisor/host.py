"""EmbeddedHost: the Linux data plane's supervisor (HTTP.sys + WAS) behind the Host protocol.

It follows the configuration store: it reloads applicationHost.config if the file changed and reconciles
listeners and pools with the new generation (see reconcile.py). A write this process commits through the
store wakes the loop at once (a commit hook), so an API change such as a site's new physical path is served
without waiting for the poll; the ~0.5 s poll stays for edits by other processes and for pool timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.hosting import runtime_version
from agent.hosting.embedded.supervisor.handoff import Handoffs
from agent.hosting.embedded.supervisor.launch import Launcher
from agent.hosting.embedded.supervisor.listener import Listener
from agent.hosting.embedded.supervisor.pool import AppPool
from agent.hosting.embedded.supervisor.reconcile import Reconciler
from agent.hosting.embedded.supervisor.response_cache import ResponseCache
from agent.hosting.embedded.supervisor.sites import InFlight, SiteRuntime
from agent.hosting.embedded.supervisor.snapshot import take_snapshot
from agent.hosting.runtime_types import HostSnapshot, RuntimeStatus
from agent.hosting.runtime_version import TrackedStatus
from shared.asyncio_utils import create_task
from shared.errors import NotFound

log = logging.getLogger("iisfleet.hosting")
POLL_INTERVAL = 0.5


class EmbeddedHost:
    """Runs what applicationHost.config says: sites on their bindings, pools as worker processes."""

    name = "embedded"
    server_state = TrackedStatus[RuntimeStatus]()  # changes bump the runtime version, as site and pool states do

    def __init__(self, store: Any, state_dir: Path, address: str, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.store = store
        self.state_dir = state_dir
        self.address = address
        self.poll_interval = poll_interval
        self.config_path = Path(store.path)
        self.sites: dict[str, SiteRuntime] = {}
        self.pools: dict[str, AppPool] = {}
        self.listeners: dict[tuple[str, str, int], Listener] = {}
        self.inflight: dict[int, InFlight] = {}
        self.config_version = ""
        self.cache = ResponseCache()
        self.handoffs = Handoffs()
        self.server_state = RuntimeStatus.STOPPED
        self.run_dir = Path(".")
        self.launcher = Launcher()
        self.reconciler = Reconciler(self)
        self._poller: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._hook: Callable[[Any], object] | None = None
        self.lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the service: pools with autoStart, sites with serverAutoStart, then follow the config."""
        _raise_fd_limit()
        self.run_dir = Path(tempfile.mkdtemp(prefix="iisfleet-"))
        await self.start_server()
        loop = asyncio.get_running_loop()
        # Commits run in a worker thread (ConfigStore.write): hand the wake-up to the loop.
        self._hook = lambda _root: loop.call_soon_threadsafe(self._wake.set)
        self.store.commit_hooks.append(self._hook)
        self._poller = create_task(self._poll(), name="embedded host config poll")

    async def close(self) -> None:
        """Stop everything: listeners closed, every worker stopped by pid."""
        if self._hook in self.store.commit_hooks:
            self.store.commit_hooks.remove(self._hook)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        async with self.lock:
            await self._shutdown(kill=True)
        await self.launcher.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    async def start_server(self) -> None:
        """Start W3SVC/WAS: autoStart pools and serverAutoStart sites."""
        async with self.lock:
            self.server_state = RuntimeStatus.STARTED
            await self.reconciler.apply(initial=True)
            runtime_version.bump()  # runtimes were added or removed

    async def stop_server(self) -> None:
        """Stop W3SVC/WAS: every site releases its bindings and every pool stops."""
        async with self.lock:
            await self._shutdown(kill=False)
            self.server_state = RuntimeStatus.STOPPED

    async def _shutdown(self, *, kill: bool) -> None:
        self.cache.flush()
        for site in self.sites.values():
            await self.reconciler.unbind(site)
        await asyncio.gather(*(p.close() if kill else p.stop() for p in self.pools.values()))
        for site in self.sites.values():
            site.log.flush()
            site.log.close()

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("embedded host poll failed; will retry")

    async def tick(self) -> None:
        """One poll: reconcile a changed configuration, run pool timers, flush logs."""
        async with self.lock:
            if self.server_state == RuntimeStatus.STARTED:
                self.store.refresh_if_changed()
                if self.store.generation != self.reconciler.generation:
                    await self.reconciler.apply(initial=False)
                    runtime_version.bump()  # runtimes were added or removed
                else:
                    self.reconciler.refresh_certificates()
        for pool in list(self.pools.values()):
            await pool.tick()
        self.handoffs.pump()
        for site in list(self.sites.values()):
            site.log.flush()

    # -- Host protocol ------------------------------------------------------------------------------
    def site_status(self, site_name: str) -> RuntimeStatus:
        """started / stopped for a configured site."""
        site = self.sites.get(site_name.lower())
        return site.state if site else RuntimeStatus.UNKNOWN

    def pool_status(self, pool_name: str) -> RuntimeStatus:
        """started / stopped for a configured pool."""
        pool = self.pools.get(pool_name.lower())
        return pool.state if pool else RuntimeStatus.UNKNOWN

    def server_status(self) -> RuntimeStatus:
        """The state of the web server service."""
        return self.server_state

    @property
    def runtime_version(self) -> int | None:
        """Bumped by every change of a site's, pool's or the server's state (agent.hosting.runtime_version)."""
        return runtime_version.runtime_version()

    def pool(self, name: str) -> AppPool | None:
        """The runtime pool by name (case-insensitive)."""
        return self.pools.get(name.lower())

    async def start_site(self, site_name: str) -> None:
        """Bind the site's listeners; a port in use leaves it stopped and raises OSError."""
        async with self.lock:
            await self._sync_now()
            await self.reconciler.bind(self._site(site_name), strict=True)

    async def stop_site(self, site_name: str) -> None:
        """Release the site's bindings (new connections are refused)."""
        async with self.lock:
            site = self._site(site_name)
            await self.reconciler.unbind(site)
            self.cache.flush(site=site.spec.name.lower())

    async def start_pool(self, pool_name: str) -> None:
        """Start a pool (AlwaysRunning pools spawn their worker now)."""
        async with self.lock:
            await self._sync_now()
            await self._pool(pool_name).start()

    async def stop_pool(self, pool_name: str) -> None:
        """Stop a pool: its applications answer 503."""
        pool = self._pool(pool_name)
        self.cache.flush(pool=pool.spec.name.lower())
        await pool.stop()

    async def recycle_pool(self, pool_name: str) -> None:
        """Overlapped recycle of the pool's workers."""
        await self._pool(pool_name).recycle("on demand")

    def snapshot(self) -> HostSnapshot:
        """Counters and state of every site, pool, worker and in-flight request."""
        self.handoffs.pump()  # workers' records first: counters equal what clients have received
        inflight = self.inflight.values()
        return take_snapshot(self.server_state, self.sites.values(), self.pools.values(), inflight, self.cache)

    def flush_logs(self) -> None:
        """Write buffered W3C log lines now."""
        self.handoffs.pump()
        for site in self.sites.values():
            site.log.flush()

    # -- helpers ------------------------------------------------------------------------------------
    async def _sync_now(self) -> None:
        # An API call right after a config write must see that write even before the next poll.
        self.store.refresh_if_changed()
        if self.store.generation != self.reconciler.generation:
            await self.reconciler.apply(initial=False)
            runtime_version.bump()  # runtimes were added or removed

    def _site(self, name: str) -> SiteRuntime:
        site = self.sites.get(name.lower())
        if site is None:
            raise NotFound(name="site", detail=f"Site {name!r} does not exist.")
        return site

    def _pool(self, name: str) -> AppPool:
        pool = self.pools.get(name.lower())
        if pool is None:
            raise NotFound(name="application_pool", detail=f"Application pool {name!r} does not exist.")
        return pool


def _raise_fd_limit() -> None:
    # Every proxied request holds a client socket and a unix socket: lift the soft limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
