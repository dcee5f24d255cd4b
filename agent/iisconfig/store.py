"""ConfigStore: load, reload, transactional writes with locking, atomic saves and dated backups."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from lxml import etree

from agent.iisconfig import locations as loc
from agent.iisconfig import locks
from agent.iisconfig.document import Document
from agent.iisconfig.reader import ConfigReader, file_stat
from agent.iisconfig.xmlutil import Layout, parse, serialize
from shared import filelock
from shared.fsutil import atomic_write_bytes

T = TypeVar("T")


class ConfigStore(ConfigReader):
    """applicationHost.config as the source of truth: cheap reads, serialised transactional writes.

    Reading, reloading and change detection are ConfigReader's; the store parses with lxml so that a save
    writes the file back byte for byte apart from the changes.
    """

    read_only_views = False  # section views write into the document; the next commit saves them

    def __init__(self, path: Path, *, backup_dir: Path | None = None, keep_backups: int = 10) -> None:
        super().__init__(path)
        self.backup_dir = backup_dir if backup_dir is not None else self.path.parent / "history"
        self.keep_backups = keep_backups
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._layout = Layout()
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._writing = False
        # Called with the document root after each commit (e.g. the embedded host's unenforced-section warning).
        self.commit_hooks: list[Callable[[Any], object]] = []

    def refresh_if_changed(self) -> bool:
        """Reload when another program replaced the file; True when the in-memory state changed."""
        if self._writing:
            return False  # the writer reloads under the file lock before it yields
        return super().refresh_if_changed()

    def _parse(self, data: bytes) -> Document:
        """Parse with lxml, remembering the file's style (BOM, declaration, line endings) for the next save."""
        root, self._layout = parse(data)
        return Document(root)

    # -- reading and raw edits -------------------------------------------------------------------------

    def remove_location_section(self, name: str, location: str) -> None:
        """Revert a section at a location to its parent's configuration."""
        loc.remove_location_section(self.document, name, location)

    def set_override_mode(self, name: str, location: str, mode: str) -> None:
        """Set delegation for a section at a path ("allow", "deny", "inherit"); use inside a write block."""
        locks.set_override_mode(self.document, name, location, mode)

    def replace_document(self, data: bytes) -> None:
        """Inside a write block: make `data` the whole new content, committed when the block ends."""
        self._doc = self._parse(data)
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
        root = self.document.root
        assert isinstance(root, etree._Element), "ConfigStore documents are parsed with lxml"
        return serialize(root, self._layout)

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
            stat = file_stat(self.path)
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
            self._stat = file_stat(self.path)
        self.document.dirty = False
        self._generation += 1
        for hook in self.commit_hooks:
            try:
                hook(self.document.root)
            except Exception:  # a hook never undoes or fails a commit
                logging.getLogger("iisfleet.config").exception("config commit hook failed")

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
