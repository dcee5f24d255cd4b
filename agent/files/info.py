"""What the API reports about one file or directory: stat, ETag, MIME type and UTC dates."""

from __future__ import annotations

import mimetypes
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

from shared.dates import format_date

FILETIME_EPOCH_TICKS = 116444736000000000
"""1601-01-01 to 1970-01-01 in 100 ns ticks: upstream's ETag is built from a Windows FILETIME."""

# A private table (built-in defaults only) so the answer does not depend on the host's /etc/mime.types.
_MIME = mimetypes.MimeTypes()


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A stat taken once, with the path it describes."""

    path: str
    st: os.stat_result | None

    @property
    def exists(self) -> bool:
        """Whether anything is there."""
        return self.st is not None

    @property
    def is_dir(self) -> bool:
        """Whether it is a directory (following links)."""
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)

    @property
    def is_file(self) -> bool:
        """Whether it is a regular file (following links)."""
        return self.st is not None and stat.S_ISREG(self.st.st_mode)

    @property
    def name(self) -> str:
        """The last path segment."""
        return os.path.basename(self.path) or self.path

    @property
    def size(self) -> int:
        """Bytes, 0 when missing."""
        return self.st.st_size if self.st is not None else 0


def file_info(path: str) -> FileInfo:
    """Stat a path (following links); a missing or unreadable item is reported as not existing."""
    try:
        return FileInfo(path, os.stat(path))
    except (OSError, ValueError):
        return FileInfo(path, None)


def etag(st: os.stat_result) -> str:
    """Unquoted lower-case hex: last-write FILETIME ticks XOR size, as upstream, but at full 100 ns precision."""
    ticks = st.st_mtime_ns // 100 + FILETIME_EPOCH_TICKS
    return format(ticks ^ st.st_size, "x")


def mime_type(name: str) -> str | None:
    """The MIME type for a file name's extension, None when unknown."""
    return _MIME.guess_type(name, strict=False)[0]


def content_type(name: str) -> str:
    """The Content-Type to serve a file with."""
    return mime_type(name) or "application/octet-stream"


def iso_date(seconds: float | None) -> str | None:
    """Upstream's UTC date text with up to 7 fraction digits and a trailing Z."""
    return None if seconds is None else format_date(datetime.fromtimestamp(seconds, UTC))


def http_date(seconds: float) -> str:
    """RFC 1123 date for Last-Modified."""
    return formatdate(seconds, usegmt=True)


def parse_date(value: object, name: str) -> float:
    """A JSON date (ISO 8601 text) as POSIX seconds; ValueError names the member."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(name)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(name) from err
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
