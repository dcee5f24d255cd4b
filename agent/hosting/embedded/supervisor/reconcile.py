"""Reconcile the running host with a configuration generation: bind, rebind, start, stop, recycle."""

from __future__ import annotations

import errno
import logging
import os
import ssl
from pathlib import Path
from typing import Any, Protocol

from agent.hosting.embedded.model import ServerSpec, read_server
from agent.hosting.embedded.supervisor.dispatch import Dispatch
from agent.hosting.embedded.supervisor.launch import Launcher
from agent.hosting.embedded.supervisor.listener import Listener, TlsCertificates
from agent.hosting.embedded.supervisor.pool import AppPool
from agent.hosting.embedded.supervisor.response_cache import ResponseCache
from agent.hosting.embedded.supervisor.sites import SiteRuntime
from agent.hosting.runtime_types import RuntimeStatus
from shared.errors import ServerError

log = logging.getLogger("iisfleet.hosting")


class Supervised(Dispatch, Protocol):
    """What the reconciler reads and changes in the supervisor (EmbeddedHost has it)."""

    store: Any
    state_dir: Path
    address: str
    config_path: Path
    run_dir: Path
    launcher: Launcher
    sites: dict[str, SiteRuntime]
    pools: dict[str, AppPool]
    listeners: dict[tuple[str, str, int], Listener]
    cache: ResponseCache


class Reconciler:
    """Applies ServerSpec differences to the host's sites, pools and listeners."""

    def __init__(self, host: Supervised) -> None:
        self.host = host
        self.generation = -1
        self.spec: ServerSpec | None = None

    async def apply(self, *, initial: bool) -> None:
        """Read the store's current generation and converge on it."""
        host = self.host
        self.generation = host.store.generation
        # Any configuration change may change any cached answer (headers, filtering, mappings): drop them all.
        host.cache.flush()
        spec = read_server(host.store, host.address)
        try:
            stat = os.stat(host.config_path)
            host.config_version = f"{stat.st_mtime_ns}-{stat.st_size}-{self.generation}"
        except OSError:
            host.config_version = str(self.generation)
        await self._pools(spec, initial)
        await self._sites(spec, initial)
        self.spec = spec
        self.refresh_certificates()

    def refresh_certificates(self) -> None:
        """Reload https certificates whose PEM file changed (each generation and each host poll)."""
        for listener in list(self.host.listeners.values()):
            if listener.tls is not None:
                listener.tls.refresh()

    async def _pools(self, spec: ServerSpec, initial: bool) -> None:
        host = self.host
        for key in [k for k in host.pools if k not in spec.pools]:
            gone = host.pools.pop(key)
            log.info("application pool %r was deleted: stopping it", gone.spec.name)
            await gone.stop()
        for key, pool_spec in spec.pools.items():
            pool = host.pools.get(key)
            if pool is None:
                pool = host.pools[key] = AppPool(pool_spec, host.run_dir, host.config_path, host.launcher)
                if pool_spec.auto_start:
                    await pool.start()
            elif pool.update(pool_spec) and pool.state == RuntimeStatus.STARTED:
                await pool.recycle("configuration change")
        if initial:
            for key, pool in host.pools.items():
                if pool.state == RuntimeStatus.STOPPED and spec.pools[key].auto_start:
                    await pool.start()

    async def _sites(self, spec: ServerSpec, initial: bool) -> None:
        host = self.host
        for key in [k for k in host.sites if k not in spec.sites]:
            deleted = host.sites.pop(key)
            log.info("site %r was deleted: releasing its bindings", deleted.spec.name)
            await self.unbind(deleted)
            deleted.log.flush()
            deleted.log.close()
        for key, site_spec in spec.sites.items():
            site = host.sites.get(key)
            if site is None:
                site = host.sites[key] = SiteRuntime(site_spec, host.state_dir)
                if site_spec.auto_start:
                    await self.bind(site)
                continue
            rebind = site.spec.bindings != site_spec.bindings and site.state == RuntimeStatus.STARTED
            if rebind:
                await self.unbind(site)
            site.update(site_spec, host.state_dir)
            if rebind or (initial and site_spec.auto_start and site.state == RuntimeStatus.STOPPED):
                await self.bind(site)

    async def bind(self, site: SiteRuntime, *, strict: bool = False) -> None:
        """Start a site on its bindings; on failure it stays stopped (and `strict` raises)."""
        if site.state == RuntimeStatus.STARTED:
            return
        host = self.host
        added: list[Listener] = []
        try:
            for binding in site.spec.bindings:
                key = (binding.protocol, binding.ip, binding.port)
                listener = host.listeners.get(key)
                certificate = (binding.host, binding.certificate or binding.host, binding.store, binding.sni)
                if listener is None:
                    tls = None
                    if binding.protocol == "https":
                        tls = TlsCertificates(host.state_dir)
                        tls.add(*certificate)
                    listener = Listener(binding.protocol, binding.ip, binding.port, host, tls)
                    await listener.open()
                    host.listeners[key] = listener
                other = listener.sites.get(binding.host)
                if other is not None and other is not site:
                    raise OSError(errno.EADDRINUSE, f"the binding is already used by site {other.spec.name!r}")
                if listener.tls is not None:
                    listener.tls.add(*certificate)  # this host name's certificate, chosen by SNI
                listener.sites[binding.host] = site
                added.append(listener)
        except (OSError, ssl.SSLError) as err:
            for listener in added:
                listener.drop_site(site)
            await self._close_unused()
            site.state = RuntimeStatus.STOPPED
            site.error = f"cannot bind {binding.protocol}://{binding.ip}:{binding.port} ({binding.host or '*'}): {err}"
            log.error("site %r failed to start: %s", site.spec.name, site.error)
            if strict:
                raise ServerError(name="site", detail=f"Site {site.spec.name!r} failed to start: {site.error}") from err
            return
        site.state = RuntimeStatus.STARTED
        site.error = ""
        log.info("site %r started on %d binding(s)", site.spec.name, len(site.spec.bindings))

    async def unbind(self, site: SiteRuntime) -> None:
        """Stop a site: remove it from its listeners and close listeners nobody uses."""
        for listener in list(self.host.listeners.values()):
            listener.drop_site(site)
        await self._close_unused()
        site.state = RuntimeStatus.STOPPED

    async def _close_unused(self) -> None:
        for key, listener in list(self.host.listeners.items()):
            if not listener.sites:
                del self.host.listeners[key]
                await listener.close()
