"""The opt-in Windows suite: why it skips here, and the agent it runs on a real IIS."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

OPT_IN = "IISFLEET_WINDOWS_E2E"
APPCMD = Path(os.environ.get("WINDIR", r"C:\Windows")) / "System32" / "inetsrv" / "appcmd.exe"


def skip_reason() -> str | None:
    """None when this machine can run the suite; otherwise the reason, for the skip message."""
    if not sys.platform.startswith("win"):
        return f"needs Windows Server with IIS (this is {sys.platform}); runs in .github/workflows/windows.yml"
    if os.environ.get(OPT_IN) != "1":
        return f"opt-in: it creates and deletes IIS sites and pools on this machine; set {OPT_IN}=1 to run it"
    if not APPCMD.exists() or shutil.which("typeperf") is None:
        return f"IIS is not installed ({APPCMD} missing): Install-WindowsFeature Web-Server"
    return None
