"""The supervisor's kernel response cache (HTTP.sys's URI cache): hot small static responses without a worker.

Entries are whole responses (status line, headers, body) the worker marked cacheable (cache_policy.py), keyed
by (site id, local ip, local port, tls, lower-case host, request target as received). A hit is served only
while: the configuration version it was stored under is still current (any change drops everything), it is
younger than the TTL, and every file it was built from still has the same mtime, size and inode. The caller
(exchange.py) also checks that the site and the pool are started. Bounded by entry count and body bytes, LRU.

A large static file the worker handed over (file_handoff.py) is kept as its identity instead of bytes (`dev`,
`length`; files[0] is the file): a hit opens the path and sends the file with sendfile(2) only when the opened
file is that same device and inode, with the same size and mtime (exchange.py, `open_file`). The cache holds
no descriptor between requests.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from agent.hosting.embedded.cache_policy import SWITCH, FileIdentity, live, still_valid

MAX_ENTRIES = 1000
MAX_BYTES = 64 * 1024 * 1024
TTL_SECONDS = 120.0

Key = tuple[int, str, int, bool, str, str]


@dataclass(slots=True)
class Entry:
    """One cached response."""

    site: str  # lower-case site name
    pool: str  # lower-case pool name
    version: str  # the supervisor's config_version when the worker answered
    files: tuple[FileIdentity, ...]
    status_line: bytes  # b"HTTP/1.1 200 OK\r\n"
    headers: bytes  # end-to-end header lines without Date, each ending in CRLF
    body: bytes
    substatus: int
    win32: int
    log_it: bool
    expires: float
    dev: int = -1  # a file entry: st_dev of files[0], whose `length` bytes are the body (body is then b"")
    length: int = 0

    @property
    def size(self) -> int:
        """Bytes held: head and body."""
        return len(self.status_line) + len(self.headers) + len(self.body)

    def valid(self, accept_encoding: str) -> bool:
        """Every source file unchanged, and no precompressed sibling a worker would prefer for this client."""
        return still_valid(self.files, accept_encoding)


class ResponseCache:
    """Bounded LRU of responses plus the counters of the Web Service Cache "Kernel: URI cache" object."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, ttl: float = TTL_SECONDS,
                 enabled: bool | None = None) -> None:  # fmt: skip
        if enabled is None:  # read when the cache is built, so a test or a caller may set it beforehand
            enabled = os.environ.get(SWITCH, "1") != "0"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.enabled = enabled and max_entries > 0
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.bytes = 0
        # Bumped by every flush: a response that was in flight across a flush is not stored afterwards.
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.items_added = 0
        self.items_flushed = 0
        self.flushes = 0

    def lookup(self, key: Key, version: str, accept_encoding: str) -> Entry | None:
        """The live entry for `key`, or None (a stale entry is dropped; a version change drops everything)."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.version != version:
            self.flush()
            return None
        return live(self.entries, key, entry, accept_encoding, self._remove)

    def store(self, key: Key, entry: Entry, epoch: int, version: str) -> bool:
        """Insert or replace; refused when a flush or a config change happened since the request began."""
        if not self.enabled or epoch != self.epoch or entry.version != version or entry.size > self.max_bytes:
            return False
        if key in self.entries:
            self._remove(key)
        self.entries[key] = entry
        self.bytes += entry.size
        self.items_added += 1
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            self._remove(next(iter(self.entries)))
        return True

    def flush(self, *, site: str | None = None, pool: str | None = None) -> int:
        """Drop every entry (or those of one site / one pool, by lower-case name); the count dropped."""
        self.epoch += 1
        self.flushes += 1
        if site is None and pool is None:
            doomed = list(self.entries)
        else:
            doomed = [k for k, e in self.entries.items() if e.site == site or e.pool == pool]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def _remove(self, key: Key) -> None:
        entry = self.entries.pop(key)
        self.bytes -= entry.size
        self.items_flushed += 1


class HttpDate:
    """The Date header value, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        """b"Date: <IMF-fixdate>\\r\\n" for now."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = f"Date: {email.utils.formatdate(second, usegmt=True)}\r\n".encode("ascii")
        return self._line


DATE = HttpDate()
