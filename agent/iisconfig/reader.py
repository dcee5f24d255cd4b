"""ConfigReader: applicationHost.config for a process that only reads it (a worker): no lxml, no writes.

It parses with litexml (the stdlib's expat) and answers through the agent's own read path (locations.py,
merge.py, collections), so a worker's effective sections are the agent's. ConfigStore builds on it: the
loading, the change detection and the read API are this class's; the store adds lxml, writes and saves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import ClassVar

from agent.iisconfig import litexml, locks
from agent.iisconfig import locations as loc
from agent.iisconfig.document import Document
from agent.iisconfig.element import ConfigElement
from agent.iisconfig.errors import ConfigError

log = logging.getLogger(__name__)
FileStat = tuple[int, int, int]


class ConfigReader:
    """The configuration file as last read: sections, effective sections and delegation, reloaded on change."""

    # Views of sections refuse writes: nothing here could save them (ConfigStore's views write and commit).
    read_only_views: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._doc: Document | None = None
        self._committed = b""
        self._stat: FileStat | None = None
        self._generation = 0

    # -- state -----------------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Bumped on every reload (and, in ConfigStore, every committed write and rollback); key caches on it."""
        return self._generation

    @property
    def document(self) -> Document:
        """The current document (raises ConfigError before load())."""
        if self._doc is None:
            raise ConfigError(f"{self.path} has not been loaded")
        return self._doc

    @property
    def root(self) -> ConfigElement:
        """The <configuration> element."""
        doc = self.document
        return ConfigElement(doc, doc.root, None, readonly=self.read_only_views)

    def load(self) -> None:
        """Read and parse the file (ConfigError when it is missing or not well-formed)."""
        try:
            data = self.path.read_bytes()
            stat = file_stat(self.path)
        except OSError as err:
            raise ConfigError(f"cannot read {self.path}: {err.strerror or err}") from err
        self._install(data, stat)

    def refresh_if_changed(self) -> bool:
        """Reload when another program replaced the file; True when the in-memory state changed."""
        try:
            stat = file_stat(self.path)
        except OSError:
            return False
        if stat == self._stat:
            return False
        try:
            data = self.path.read_bytes()
            if data == self._committed:
                self._stat = stat
                return False
            self._install(data, stat)
        except (OSError, ConfigError) as err:
            # Writers replace the file by rename, so this is a broken file rather than a torn one: keep serving.
            log.warning("keeping the previous configuration: %s", err)
            self._stat = stat
            return False
        return True

    def _install(self, data: bytes, stat: FileStat | None) -> None:
        """Make `data` the committed and current state."""
        self._doc = self._parse(data)
        self._committed = data
        self._stat = stat
        self._generation += 1

    def _parse(self, data: bytes) -> Document:
        """A document for the file's bytes (ConfigStore parses with lxml instead, to save byte-faithfully)."""
        return Document(litexml.parse(data))

    # -- reading ---------------------------------------------------------------------------------------

    def section(self, name: str, location: str | None = None) -> ConfigElement:
        """Section `name` at server level (location None or "") or inside <location path=...>."""
        return loc.section(self.document, name, location, readonly=self.read_only_views)

    def effective_section(self, name: str, path: str) -> ConfigElement:
        """Read-only merged view of a section for a configuration path ("" = server, "Site/app")."""
        return loc.effective_section(self.document, name, path)

    def locations(self) -> list[str]:
        """Paths of all <location> tags in document order."""
        return [loc.norm_path(e.get("path")) for e in self.document.root.iterchildren("location")]

    def is_locked(self, name: str, location: str) -> bool:
        """True when delegation forbids configuring the section at this site/app path."""
        return locks.is_locked(self.document, name, location)

    def override_mode(self, name: str, location: str) -> str:
        """overrideMode set at exactly this path for the section: "allow", "deny" or "inherit"."""
        return locks.override_mode(self.document, name, location)

    def effective_override_mode(self, name: str, location: str) -> str:
        """The delegation mode in effect at the path: "allow" or "deny"."""
        return locks.effective_override_mode(self.document, name, location)


def file_stat(path: Path) -> FileStat:
    """The identity of the file's current version: mtime, size and inode (a rename changes the inode)."""
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)
