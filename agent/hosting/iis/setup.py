"""Choosing the iis backend: Windows only, and the configuration store is IIS's own applicationHost.config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent.iisconfig import ConfigStore
from agent.settings import SettingsError


def require_windows(platform: str = sys.platform) -> None:
    """Refuse the iis backend anywhere but Windows, naming the setting to change."""
    if not platform.startswith("win"):
        raise SettingsError(
            f'setting iisfleet.host_backend: "iis" drives IIS through appcmd.exe and needs Windows, but this host '
            f'is {platform}; use "embedded" (the default) here'
        )


def iis_config_path(environ: dict[str, str] | None = None) -> Path:
    """%windir%\\System32\\inetsrv\\config\\applicationHost.config, as a 64-bit process sees it."""
    env = dict(os.environ) if environ is None else environ
    windir = Path(env.get("WINDIR", env.get("SystemRoot", r"C:\Windows")))
    # A 32-bit Python on 64-bit Windows is redirected from System32 to SysWOW64, where IIS's config is not.
    system = "Sysnative" if env.get("PROCESSOR_ARCHITEW6432") else "System32"
    return windir / system / "inetsrv" / "config" / "applicationHost.config"


def open_iis_config_store(state_dir: Path, path: Path | None = None) -> ConfigStore:
    """The store over IIS's live applicationHost.config; backups go to the agent's state directory."""
    require_windows()
    store = ConfigStore(path or iis_config_path(), backup_dir=state_dir / "history")
    store.load()
    return store
