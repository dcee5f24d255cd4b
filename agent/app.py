"""build_app: the agent's aiohttp application, from its state directory and settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from agent.api.hot_router import hot_application
from agent.api.pipeline import pipeline
from agent.api.routes import ROUTES
from agent.api.routing import register
from agent.api.transactions import install_transactions
from agent.certificates.install import install_certificates
from agent.files.locations import FileLocations
from agent.files.state import FILES_RUNTIME, FilesRuntime, files_runtime_ctx
from agent.hosting.base import Host, ManagedHost, UnavailableHost
from agent.ids import IdCodec
from agent.iisconfig import ConfigStore, write_stock_config
from agent.keys import CONFIG_STORE, FILE_LOCATIONS, HOST, ID_CODEC, SECRET_BOX, SETTINGS, STATE_DIR
from agent.security.metrics_cert import install_scrape_certificates
from agent.security.setup import install_security
from agent.settings import AgentSettings
from shared.secretbox import SecretBox

CONFIG_FILE = "applicationHost.config"


def open_config_store(state_dir: Path) -> ConfigStore:
    """Load applicationHost.config, writing the stock one (Default Web Site, DefaultAppPool) on first run."""
    path = state_dir / CONFIG_FILE
    if not path.exists():
        write_stock_config(path, state_dir / "inetpub" / "wwwroot")
    store = ConfigStore(path, backup_dir=state_dir / "history")
    store.load()
    return store


def build_app(
    state_dir: Path, settings: AgentSettings, *, host: Host | None = None, address: str | None = None
) -> web.Application:
    """The agent application: middlewares in request order, then the routing table.

    With `address` (the agent's listen address, which `*` bindings mean) and the embedded backend, the app
    runs the embedded web host for its lifetime; without it, runtime state is unavailable (tests, tools).
    """
    # One middleware runs the five layers (CORS, errors, auth, transactions, audit): agent.api.pipeline.
    # A HotRouter remembers where GET paths resolved (agent.api.hot_router).
    app = hot_application([pipeline], settings.iisfleet.max_request_body)
    app[SETTINGS] = settings
    app[STATE_DIR] = state_dir
    app[ID_CODEC] = IdCodec(settings.host_id)
    app[CONFIG_STORE] = store = _open_store(settings, state_dir)
    # Before the host's cleanup_ctx: https bindings need the stores bootstrapped when sites start.
    install_certificates(app, settings, state_dir)
    if host is None and address is not None:
        managed = _host_backend(settings, store, state_dir, address)
        app.cleanup_ctx.append(lambda app: _run_host(managed))
        host = managed
    app[HOST] = host or UnavailableHost()
    install_transactions(app)
    app[FILE_LOCATIONS] = FileLocations(settings.files)
    app[SECRET_BOX] = SecretBox(state_dir / "secrets.key")
    app[FILES_RUNTIME] = FilesRuntime(state_dir)
    app.cleanup_ctx.append(files_runtime_ctx)
    install_security(app, settings, state_dir)
    install_scrape_certificates(app, state_dir)
    register(app.router, ROUTES)
    return app


def _open_store(settings: AgentSettings, state_dir: Path) -> ConfigStore:
    """The embedded backend keeps its own file; the iis backend edits IIS's (and refuses to start off Windows)."""
    if settings.iisfleet.host_backend == "iis":
        from agent.hosting.iis import open_iis_config_store

        return open_iis_config_store(state_dir)
    return open_config_store(state_dir)


def _host_backend(settings: AgentSettings, store: ConfigStore, state_dir: Path, address: str) -> ManagedHost:
    """The backend that runs the configuration, imported lazily so each OS loads only its own."""
    if settings.iisfleet.host_backend == "iis":
        from agent.hosting.iis import IisHost

        return IisHost(store)
    from agent.hosting.embedded.enforcement import watch_unenforced
    from agent.hosting.embedded.supervisor.host import EmbeddedHost

    watch_unenforced(store)
    return EmbeddedHost(store, state_dir, address)


async def _run_host(host: ManagedHost) -> AsyncIterator[None]:
    await host.start()
    yield
    await host.close()
