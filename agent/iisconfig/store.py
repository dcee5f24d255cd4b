"""ConfigStore: load, reload, transactional writes with locking, atomic saves and dated backups."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeVar

from agent.iisconfig import locations as loc
from agent.iisconfig import locks
from agent.iisconfig.document import Document
from agent.iisconfig.element import ConfigElement
from agent.iisconfig.errors import ConfigError
from agent.iisconfig.xmlutil import parse, serialize
from shared import filelock
from shared.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)
T = TypeVar("T")
FileStat = tuple[int, int, int]


class ConfigStore:
    """applicationHost.config as the source of truth: cheap reads, serialised transactional writes."""

    def __init__(self, path: Path, *, backup_dir: Path | None = None, keep_backups: int = 10) -> None:
        self.path = Path(path)
        self.backup_dir = backup_dir if backup_dir is not None else self.path.parent / "history"
        self.keep_backups = keep_backups
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._doc: Document | None = None
        self._committed = b""
        self._stat: FileStat | None = None
        self._generation = 0
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._writing = False

    # -- state -----------------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Bumped on every committed write, reload and rollback; key caches on it."""
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
        return ConfigElement(doc, doc.root, None)

    def load(self) -> None:
        """Read and parse the file (ConfigError when it is missing or not well-formed)."""
        try:
            data = self.path.read_bytes()
            stat = _stat(self.path)
        except OSError as err:
            raise ConfigError(f"cannot read {self.path}: {err.strerror or err}") from err
        self._install(data, stat)

    def refresh_if_changed(self) -> bool:
        """Reload when another program replaced the file; True when the in-memory state changed."""
        if self._writing:
            return False  # the writer reloads under the file lock before it yields
        try:
            stat = _stat(self.path)
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
        tree, layout = parse(data)
        self._doc = Document(tree, layout)
        self._committed = data
        self._stat = stat
        self._generation += 1

    # -- reading ---------------------------------------------------------------------------------------

    def section(self, name: str, location: str | None = None) -> ConfigElement:
        """Section `name` at server level (location None or "") or inside <location path=...>."""
        return loc.section(self.document, name, location)

    def effective_section(self, name: str, path: str) -> ConfigElement:
        """Read-only merged view of a section for a configuration path ("" = server, "Site/app")."""
        return loc.effective_section(self.document, name, path)

    def locations(self) -> list[str]:
        """Paths of all <location> tags in document order."""
        return [loc.norm_path(e.get("path")) for e in self.document.root.iterchildren("location")]

    def remove_location_section(self, name: str, location: str) -> None:
        """Revert a section at a location to its parent's configuration."""
        loc.remove_location_section(self.document, name, location)

    def is_locked(self, name: str, location: str) -> bool:
        """True when delegation forbids configuring the section at this site/app path."""
        return locks.is_locked(self.document, name, location)

    def override_mode(self, name: str, location: str) -> str:
        """overrideMode set at exactly this path for the section: "allow", "deny" or "inherit"."""
        return locks.override_mode(self.document, name, location)

    def effective_override_mode(self, name: str, location: str) -> str:
        """The delegation mode in effect at the path: "allow" or "deny"."""
        return locks.effective_override_mode(self.document, name, location)

    def set_override_mode(self, name: str, location: str, mode: str) -> None:
        """Set delegation for a section at a path ("allow", "deny", "inherit"); use inside a write block."""
        locks.set_override_mode(self.document, name, location, mode)

    def replace_document(self, data: bytes) -> None:
        """Inside a write block: make `data` the whole new content, committed when the block ends."""
        tree, layout = parse(data)
        self._doc = Document(tree, layout)
        self._doc.touch()

    @property
    def committed_bytes(self) -> bytes:
        """The file content as last loaded or saved."""
        return self._committed

    def mark_changed(self) -> None:
        """Force the current write block to save (after editing lxml elements directly)."""
        self.document.touch()

    def serialize(self) -> bytes:
        """The document as file bytes, in the file's own style (BOM, declaration, line endings)."""
        doc = self.document
        return serialize(doc.tree, doc.layout)

    # -- writing ---------------------------------------------------------------------------------------

    def write(self) -> AbstractAsyncContextManager[ConfigStore]:
        """`async with store.write() as cfg:` changes commit atomically on exit, or vanish on an exception."""
        return self._write()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[ConfigStore]:
        """The async transaction: in-process lock, file lock in a thread, reload, yield, commit or roll back."""
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            handle = await _in_thread(self._acquire, on_cancel=self._release)
            try:
                await _in_thread(self._begin)
                try:
                    yield self
                    if self.document.dirty:
                        # A failed save (disk full) is rolled back too, or the next write would save it.
                        await _in_thread(self._commit)
                except BaseException:
                    self._rollback()
                    raise
            finally:
                self._writing = False
                self._release(handle)

    @contextmanager
    def write_sync(self) -> Iterator[ConfigStore]:
        """Synchronous twin of write() for threads, scripts and tests."""
        with self._thread_lock:
            handle = self._acquire()
            try:
                self._begin()
                try:
                    yield self
                    if self.document.dirty:
                        self._commit()
                except BaseException:
                    self._rollback()
                    raise
            finally:
                self._writing = False
                self._release(handle)

    def _acquire(self) -> IO[bytes]:
        """Exclusive lock on <path>.lock: serialises writers across processes (and ConfigStore instances)."""
        handle = open(self._lock_path, "a+b")  # noqa: SIM115 - released in _release
        try:
            filelock.lock(handle)
        except BaseException:
            handle.close()
            raise
        return handle

    @staticmethod
    def _release(handle: IO[bytes]) -> None:
        """Drop the file lock."""
        try:
            filelock.unlock(handle)
        finally:
            handle.close()

    def _begin(self) -> None:
        """Under the file lock: pick up changes other writers committed, then open the transaction."""
        self._writing = True
        if self._doc is None:
            self.load()
            return
        try:
            stat = _stat(self.path)
        except OSError:
            stat = None
        if stat != self._stat:
            data = self.path.read_bytes()
            if data != self._committed:
                self._install(data, stat)
            self._stat = stat

    def _rollback(self) -> None:
        """Throw away every change of the failed block (or failed save) by re-parsing the last committed bytes.

        Safe after a commit that did finish (a cancelled caller): `_committed` is then the new content.
        """
        self._install(self._committed, self._stat)

    def _commit(self) -> None:
        """Serialise once, back up the previous file, replace it atomically and bump the generation."""
        data = self.serialize()
        if data != self._committed:
            if self._committed and self.keep_backups > 0:
                self._backup(self._committed)
            atomic_write_bytes(self.path, data)
            self._committed = data
            self._stat = _stat(self.path)
        self.document.dirty = False
        self._generation += 1

    def _backup(self, data: bytes) -> None:
        """Save the previous file as <name>.<UTC timestamp> and keep only the newest `keep_backups`."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.backup_dir / f"{self.path.name}.{stamp}"
        counter = 0
        while target.exists():
            counter += 1
            target = self.backup_dir / f"{self.path.name}.{stamp}.{counter}"
        target.write_bytes(data)
        backups = sorted(p for p in self.backup_dir.glob(f"{self.path.name}.*") if p.is_file())
        for old in backups[: max(0, len(backups) - self.keep_backups)]:
            old.unlink(missing_ok=True)


def _stat(path: Path) -> FileStat:
    """The identity of the file's current version: mtime, size and inode (a rename changes the inode)."""
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


async def _in_thread(func: Callable[[], T], *, on_cancel: Callable[[T], None] | None = None) -> T:
    """Run blocking file work in a thread and let it finish even if the caller is cancelled meanwhile."""
    future = asyncio.get_running_loop().run_in_executor(None, func)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
            break
        except asyncio.CancelledError:
            if future.done() and future.cancelled():
                raise
            cancelled = True
            if future.done():
                result = future.result()
                break
    if cancelled:
        if on_cancel is not None:
            on_cancel(result)
        raise asyncio.CancelledError()
    return result
