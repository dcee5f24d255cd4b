"""What may enter the supervisor's kernel response cache, shared by the worker (who marks) and the supervisor.

The worker marks a response cacheable with an internal X-IISFleet-Cache header carrying the identity of the
files it depends on (path, mtime_ns, size, inode); the supervisor strips it with the other X-IISFleet-*
headers, stores the response and re-stats those files before every hit.
"""

from __future__ import annotations

import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, unquote

CACHE_HEADER = "X-IISFleet-Cache"
SWITCH = "IISFLEET_KERNEL_CACHE"
"""Set to 0 in the agent's environment to turn the supervisor's response cache off (workers read it too)."""
SECTION = "system.webServer/caching"
# A complete body above this size is never cached (HTTP.sys's default responses are small; 64 KiB bounds memory).
MAX_BODY = 64 * 1024
# Request headers that make a response depend on more than URL + config, or that ask for authorization.
BYPASS_HEADERS = frozenset({
    "authorization", "range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
    "expect", "content-length", "transfer-encoding",
})  # fmt: skip
# aiohttp's FileResponse serves a precompressed sibling (file.br / file.gz) to a client accepting that coding.
PRECOMPRESSED = ((".br", "br"), (".gz", "gzip"))


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """A file a cached response was built from, as stat saw it."""

    path: str
    mtime_ns: int
    size: int
    ino: int

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> FileIdentity:
        """The identity of `path` from a stat (or fstat) result."""
        return cls(path, st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> bool:
        """True while the path still names this very file, unchanged (an os.stat: microseconds)."""
        try:
            st = os.stat(self.path)
        except (OSError, ValueError):
            return False
        return st.st_mtime_ns == self.mtime_ns and st.st_size == self.size and st.st_ino == self.ino

    def encode(self) -> str:
        """`mtime_ns size ino quoted-path` (header-safe ASCII)."""
        return f"{self.mtime_ns} {self.size} {self.ino} {quote(self.path, safe='/')}"

    @classmethod
    def decode(cls, text: str) -> FileIdentity:
        """The inverse of encode (ValueError when malformed)."""
        mtime, size, ino, path = text.strip().split(" ", 3)
        return cls(unquote(path, errors="strict"), int(mtime), int(size), int(ino))


def still_valid(files: tuple[FileIdentity, ...], accept_encoding: str, *, first_checked: bool = False) -> bool:
    """A cached answer's files all unchanged, and no precompressed sibling (of files[0]) that the pipeline would
    prefer for a client accepting `accept_encoding` (lower-case). `first_checked`: files[0] is checked as it is
    opened (open_identity), so it is not stat'ed here."""
    for identity in files[1:] if first_checked else files:  # a loop, not all(<genexpr>): this runs on every hit
        if not identity.current():
            return False
    if accept_encoding:
        path = files[0].path
        for suffix, coding in PRECOMPRESSED:
            if coding in accept_encoding and os.path.isfile(path + suffix):
                return False
    return True


class Expiring(Protocol):
    """A cache entry as `live` sees it (supervisor/response_cache.Entry, worker/direct_cache.CachedAnswer)."""

    @property
    def expires(self) -> float: ...

    def valid(self, accept_encoding: str) -> bool: ...


K = TypeVar("K")
E = TypeVar("E", bound=Expiring)


def live(entries: OrderedDict[K, E], key: K, entry: E, accept_encoding: str, remove: Callable[[K], None]) -> E | None:
    """`entry`, stored for `key`, while it is younger than its TTL and valid for this client (moved to the recent
    end of the LRU); else dropped by `remove` and None. The hit rule of both response caches."""
    if time.monotonic() >= entry.expires or not entry.valid(accept_encoding):
        remove(key)
        return None
    entries.move_to_end(key)
    return entry


def open_identity(identity: FileIdentity, dev: int) -> int:
    """The file `identity` names, opened by its path and checked to be that very file (device, inode, size,
    mtime), so a path swapped since cannot make a cache hit send another file; -1 when it is not."""
    try:
        fd = os.open(identity.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError):
        return -1
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (
        dev, identity.ino, identity.size, identity.mtime_ns
    ):
        os.close(fd)
        return -1
    return fd


def encode_identities(files: tuple[FileIdentity, ...]) -> str:
    """The X-IISFleet-Cache header value (paths are quoted, so ',' separates entries)."""
    return ",".join(f.encode() for f in files)


def decode_identities(value: str) -> tuple[FileIdentity, ...] | None:
    """The files of an X-IISFleet-Cache value; None when malformed or empty."""
    try:
        files = tuple(FileIdentity.decode(part) for part in value.split(",") if part.strip())
    except (ValueError, UnicodeDecodeError):
        return None
    return files or None


def request_cacheable(method: str, headers: Any) -> bool:
    """A plain anonymous GET/HEAD without a body, Range, conditional or authorization headers."""
    if method not in ("GET", "HEAD"):
        return False
    return not any(name.lower() in BYPASS_HEADERS for name in headers)


def response_cacheable(headers: Any) -> bool:
    """No Set-Cookie or Vary, and no Cache-Control that keeps shared caches out (private, no-store, no-cache)."""
    if "Set-Cookie" in headers or "Vary" in headers:
        return False
    control = str(headers.get("Cache-Control", "")).lower()
    return not any(word in control for word in ("private", "no-store", "no-cache"))


def _flag(value: Any) -> bool:
    # The schema may not know system.webServer/caching: a missing attribute reads None, and IIS's default is true.
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return bool(value)


def load(section: Any) -> bool:
    """system.webServer/caching enabled and enableKernelCache (both default true)."""
    return _flag(section.get("enabled")) and _flag(section.get("enableKernelCache"))
