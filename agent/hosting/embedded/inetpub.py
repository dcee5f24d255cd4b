"""IIS's default `%SystemDrive%\\inetpub` tree on a host without a system drive: real folders under the state
directory (state_dir/inetpub, which the files API's default `inetpub` location covers, as upstream's does)."""

from __future__ import annotations

import re
from pathlib import Path

from agent.hosting.embedded.model import physical

# %SystemDrive%\inetpub\..., C:\inetpub\... (any drive letter), case-insensitive, either separator.
_INETPUB = re.compile(r"^(?:%systemdrive%|[a-z]:)[\\/]+inetpub(?:[\\/]+(?P<rest>.*))?$", re.IGNORECASE)


def inetpub_root(state_dir: Path) -> Path:
    """Where the inetpub tree lives for this agent."""
    return state_dir / "inetpub"


def resolve(configured: str, state_dir: Path) -> Path | None:
    """The real folder for a configured directory: inetpub paths map under the state directory, absolute host
    paths stay as they are, anything else (another Windows drive, an unset variable) is None."""
    match = _INETPUB.match(configured.strip())
    if match is not None:
        rest = [part for part in re.split(r"[\\/]+", match.group("rest") or "") if part and part not in (".", "..")]
        return inetpub_root(state_dir).joinpath(*rest)
    text = physical(configured)
    if "%" in text or (len(text) > 1 and text[1] == ":") or not text.startswith("/"):
        return None
    return Path(text)
