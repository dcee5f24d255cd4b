"""The answer cache of handed-off connections: HTTP.sys's response cache and IIS's URI cache, kept by the worker.

A handed-off connection has no supervisor in front, so each worker keeps, for the connections it holds, the
answers the pipeline gave plain anonymous GETs where no module made the answer depend on the client, under the
same rules as the supervisor's kernel cache (cache_policy.py, supervisor/response_cache.py). An entry is keyed
by (site id, local address and port, lower-case host, request target as received) and served while the
configuration version is the one it was stored under (any change drops everything), it is younger than the TTL,
and every file it was built from still has the same mtime, size and inode. A hit skips the pipeline, as a
kernel-cache hit skips w3wp. Bounded by entry count and bytes, LRU.

Two kinds of entry:
- a whole answer (head and body), kept only while the kernel response cache is on: HTTP.sys's cache;
- a file entry: the head alone, with files[0] as the body, opened and checked to be that very file (device,
  inode, size, mtime) and read (small) or sent by sendfile (large). A small one keeps its descriptor (up to
  MAX_OPEN_FILES of them), and every hit stats the path, so the descriptor is read only while the path still
  names that file.

Large answers are always kept as file entries. With the kernel response cache off (IISFLEET_KERNEL_CACHE=0)
every entry is one, so no response body is kept in memory and every byte of a body comes from its file at the
time of the request. That is the URI cache of IIS's worker process (what a URL maps to, resolved once per
configuration), which IIS keeps whatever its output and kernel caching settings; its hits are not counted as
cache hits.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from agent.hosting.embedded.cache_policy import MAX_BODY, SWITCH, FileIdentity, live, open_identity, still_valid

MAX_ENTRIES = 1000
# Descriptors kept open for small file entries, so a hit is a stat and a pread instead of open, fstat, read and
# close (IIS's file cache keeps handles too). Beyond this many, a hit opens its file.
MAX_OPEN_FILES = 128
MAX_BYTES = 16 * 1024 * 1024  # per worker: a web garden holds one copy per worker
TTL_SECONDS = 120.0

Key = tuple[int, str, int, str, str]


@dataclass(slots=True)
class CachedAnswer:
    """One cached answer, split around its Date header so that a hit sends a fresh one."""

    status_line: bytes  # b"HTTP/1.1 200 OK\r\n"
    headers: bytes  # the other header lines, each ending in CRLF, then the blank line
    body: bytes
    files: tuple[FileIdentity, ...]
    substatus: int
    win32: int
    logged: bool
    expires: float
    dev: int = -1  # a file entry: st_dev of files[0], which is the body (sent with sendfile; `body` is empty)
    fd: int = -1  # a small file entry's open descriptor of files[0] (DirectCache.body_of), checked when opened

    @property
    def size(self) -> int:
        """Bytes held."""
        return len(self.status_line) + len(self.headers) + len(self.body)

    def valid(self, accept_encoding: str) -> bool:
        """Every source file unchanged, and no precompressed sibling the pipeline would prefer for this client.
        A large file entry's body file is checked as it is opened for the hit instead."""
        return still_valid(self.files, accept_encoding, first_checked=self.dev >= 0 and self.files[0].size > MAX_BODY)

    def open(self) -> int:
        """A file entry's body file, checked to be the stored one (cache_policy.open_identity); -1 if not."""
        return open_identity(self.files[0], self.dev)

    def answer(self, date_line: bytes, body: bytes | None) -> bytes:
        """The bytes of a hit, head and `body` (None for HEAD): one write."""
        head = self.status_line + date_line + self.headers
        return head if body is None else head + body


def split_answer(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(status line, header lines without Date or Connection plus the blank line, body) of a whole answer."""
    end = data.find(b"\r\n\r\n")
    first = data.find(b"\r\n")
    if end < 0 or first < 0:
        return None
    lines = data[first + 2 : end + 2].split(b"\r\n")
    kept = [line for line in lines if line and not line.lower().startswith((b"date:", b"connection:"))]
    return data[: first + 2], b"".join(line + b"\r\n" for line in kept) + b"\r\n", data[end + 4 :]


class DirectCache:
    """Bounded LRU of whole answers for the connections this worker holds."""

    def __init__(self, *, keep_bodies: bool = True, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 ttl: float = TTL_SECONDS) -> None:  # fmt: skip
        self.keep_bodies = keep_bodies  # the kernel response cache is on: whole answers, counted as cache hits
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.entries: OrderedDict[Key, CachedAnswer] = OrderedDict()
        self.version = ""
        self.bytes = 0
        self.open_files = 0

    @classmethod
    def from_environment(cls, environ: dict[str, str] | os._Environ[str]) -> DirectCache:
        """The cache, of file entries only when the agent turned the kernel response cache off
        (IISFLEET_KERNEL_CACHE=0)."""
        return cls(keep_bodies=environ.get(SWITCH, "1") != "0")

    def lookup(self, key: Key, version: str, accept_encoding: str) -> CachedAnswer | None:
        """The live entry for `key`, or None (a stale one is dropped; another configuration drops everything)."""
        if version != self.version:
            self.clear(version)
            return None
        entry = self.entries.get(key)
        if entry is None:
            return None
        return live(self.entries, key, entry, accept_encoding, self._remove)

    def store(self, key: Key, version: str, data: bytes, files: tuple[FileIdentity, ...], substatus: int,
              win32: int, logged: bool, *, head_only: bool = False) -> bool:  # fmt: skip
        """Keep the answer `data` for `key`: head and body as sent, or with `head_only` the head of an answer whose
        body was all of files[0]. A whole answer whose body is files[0] becomes a file entry when bodies are not
        kept. False when it may not be kept."""
        if version != self.version:
            self.clear(version)
        parts = split_answer(data)
        if parts is None or not files or len(parts[2]) > MAX_BODY or (head_only and parts[2]):
            return False
        dev = -1
        if head_only or not self.keep_bodies:
            if not head_only and len(parts[2]) != files[0].size:
                return False
            try:
                dev = os.stat(files[0].path).st_dev
            except OSError:
                return False
            parts = (parts[0], parts[1], b"")
        entry = CachedAnswer(*parts, files, substatus, win32, logged, time.monotonic() + self.ttl, dev)
        if key in self.entries:
            self._remove(key)
        self.entries[key] = entry
        self.bytes += entry.size
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            self._remove(next(iter(self.entries)))
        return True

    def body_of(self, entry: CachedAnswer) -> bytes | None:
        """The body of a small file entry, read from its file now; None for a large one, or when the path no
        longer opens to the stored file (the pipeline answers then). `lookup` has just stat'ed the path, so a
        descriptor kept from an earlier hit still holds the file the path names."""
        size = entry.files[0].size
        if size > MAX_BODY:
            return None
        fd = entry.fd
        if fd < 0:
            fd = entry.open()
            if fd < 0:
                return None
            if self.open_files < MAX_OPEN_FILES:
                entry.fd = fd
                self.open_files += 1
        try:
            data = os.pread(fd, size + 1, 0)
        except OSError:
            return None
        finally:
            if fd != entry.fd:
                os.close(fd)
        return data if len(data) == size else None

    def clear(self, version: str) -> None:
        """Drop every entry; entries from now on belong to configuration `version`."""
        for entry in self.entries.values():
            self._close(entry)
        self.entries.clear()
        self.bytes = 0
        self.version = version

    def _remove(self, key: Key) -> None:
        entry = self.entries.pop(key)
        self.bytes -= entry.size
        self._close(entry)

    def _close(self, entry: CachedAnswer) -> None:
        if entry.fd >= 0:
            os.close(entry.fd)
            entry.fd = -1
            self.open_files -= 1
