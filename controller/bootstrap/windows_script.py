"""The PowerShell install script the WinRM bootstrap uploads (deploy/windows/install-agent.ps1 links to it)."""

from __future__ import annotations

from importlib.resources import files

# Package data, so an installed controller (no deploy/ directory) has the one copy of the script.
INSTALL_AGENT_PS1 = files("controller.bootstrap").joinpath("install-agent.ps1").read_text(encoding="utf-8")
