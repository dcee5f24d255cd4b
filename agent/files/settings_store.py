"""Rewrite the `files` section of appsettings.json, keeping every other member of the file as it is."""

from __future__ import annotations

import json
from pathlib import Path

from agent.settings import FileLocation, FilesSettings
from shared.errors import Locked
from shared.fsutil import atomic_write_text

SETTINGS_FILE = "appsettings.json"


def write_locations(state_dir: Path, locations: list[FileLocation], current: FilesSettings) -> FilesSettings:
    """Persist a new `files.locations` array atomically and return the section now in force."""
    path = state_dir / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig")) if path.exists() else {}
    except (OSError, ValueError) as err:
        raise Locked(name=SETTINGS_FILE, detail=f"appsettings.json cannot be read: {err}") from err
    if not isinstance(raw, dict):
        raise Locked(name=SETTINGS_FILE, detail="appsettings.json does not hold a JSON object")
    files = raw.get("files")
    if not isinstance(files, dict):
        files = raw["files"] = {}
    files["locations"] = [{"alias": loc.alias, "path": loc.path, "claims": list(loc.claims)} for loc in locations]
    try:
        atomic_write_text(path, json.dumps(raw, indent=2) + "\n")
    except OSError as err:
        raise Locked(name=SETTINGS_FILE, detail=str(err)) from err
    return FilesSettings(locations=locations, skip_resolving_symbolic_links=current.skip_resolving_symbolic_links)
