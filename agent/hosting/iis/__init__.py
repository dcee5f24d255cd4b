"""The IIS host (Windows): the real applicationHost.config, WAS driven through appcmd.exe, counters via typeperf."""

from __future__ import annotations

from agent.hosting.iis.host import IisHost, IisTools
from agent.hosting.iis.setup import iis_config_path, open_iis_config_store, require_windows

__all__ = ["IisHost", "IisTools", "iis_config_path", "open_iis_config_store", "require_windows"]
