"""StreamResponse and Response: the subset of aiohttp's response API the pipeline modules use, and their wire form.

A response is data until the server (worker/server.py) calls `send`, which writes the head and the body in one
write. Header rules follow aiohttp's, so the supervisor and clients see the same heads as before: a Date when
none is set, Content-Length always (this server never streams a body of unknown length), none at all on
1xx/204/304, `application/octet-stream` for a non-empty body without a type, HEAD answered with the length
of the body it does not carry.
"""

from __future__ import annotations

import functools
import math
import time
from typing import IO, Any, Protocol

from multidict import CIMultiDict

from agent.hosting.embedded.http1 import reason_phrase

DEFAULT_TYPE = "application/octet-stream"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, str] = (0, "")
_date_line: tuple[str, bytes] = ("", b"")


class Writer(Protocol):
    """The connection a response is written to (worker/server.py's Connection)."""

    transport: Any

    def write(self, data: bytes) -> None:
        """Queue bytes for the socket."""

    async def drain(self) -> None:
        """Wait while the socket's send buffer is over its limit."""

    async def sendfile(self, fobj: IO[bytes], offset: int, count: int) -> None:
        """Send a file range with sendfile(2), after what was written before."""


@functools.lru_cache(maxsize=1024)  # Last-Modified of the same files, over and over
def http_date(seconds: float) -> str:
    """An IMF-fixdate (always English, whatever the locale)."""
    t = time.gmtime(seconds)
    return (f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")  # fmt: skip


def now_date() -> str:
    """The Date header's value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, http_date(now))
    return _date_cache[1]


def date_line() -> bytes:
    """b"Date: <now>\\r\\n", for an answer assembled from cached bytes (worker/direct_cache.py)."""
    global _date_line
    value = now_date()
    if _date_line[0] != value:
        _date_line = (value, f"Date: {value}\r\n".encode("ascii"))
    return _date_line[1]


def empty_status(status: int) -> bool:
    """A status whose response never has a body (nor Content-Length)."""
    return status in (204, 304) or 100 <= status < 200


class StreamResponse:
    """Status, reason and headers; sent without a body."""

    def __init__(self, *, status: int = 200, reason: str | None = None, headers: Any = None) -> None:
        self.headers: CIMultiDict[str] = CIMultiDict(headers) if headers is not None else CIMultiDict()
        self.status = 200
        self.reason = ""
        self.set_status(status, reason)

    def set_status(self, status: int, reason: str | None = None) -> None:
        """Set the status (and its standard reason unless one is given)."""
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise ValueError("Reason cannot contain \\r or \\n")
        self.status = int(status)
        self.reason = reason or reason_phrase(self.status)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (aiohttp's default when unset)."""
        value = self.headers.get("Content-Type")
        return value.partition(";")[0].strip().lower() if value else DEFAULT_TYPE

    @content_type.setter
    def content_type(self, value: str) -> None:
        charset = self.charset
        self.headers["Content-Type"] = f"{value}; charset={charset}" if charset else value

    @property
    def charset(self) -> str | None:
        """The Content-Type's charset parameter, lower case."""
        value = self.headers.get("Content-Type", "")
        for param in value.split(";")[1:]:
            name, _, found = param.partition("=")
            if name.strip().lower() == "charset":
                return found.strip().strip('"').lower() or None
        return None

    @property
    def content_length(self) -> int | None:
        """The Content-Length header as a number."""
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        if value is None:
            self.headers.popall("Content-Length", None)
        else:
            self.headers["Content-Length"] = str(int(value))

    @property
    def etag(self) -> str | None:
        """The ETag header as sent (quoted)."""
        return self.headers.get("ETag")

    @etag.setter
    def etag(self, value: str) -> None:
        self.headers["ETag"] = value if value == "*" else f'"{value}"'

    @property
    def last_modified(self) -> str | None:
        """The Last-Modified header as sent."""
        return self.headers.get("Last-Modified")

    @last_modified.setter
    def last_modified(self, seconds: float) -> None:
        self.headers["Last-Modified"] = http_date(math.ceil(seconds))  # as aiohttp: whole seconds, rounded up

    def head(self, request: Any, length: int) -> bytes:
        """The status line and headers for a body of `length` bytes, as bytes."""
        headers = self.headers
        status = self.status
        if empty_status(status):
            headers.popall("Content-Length", None)
            headers.popall("Transfer-Encoding", None)
        else:
            headers["Content-Length"] = str(length)
            if length and "Content-Type" not in headers:
                headers["Content-Type"] = DEFAULT_TYPE
        if "Date" not in headers:
            headers["Date"] = now_date()
        version = request.version
        if "Connection" not in headers:
            if not request.keep_alive:
                if version >= (1, 1):
                    headers["Connection"] = "close"
            elif version < (1, 1):
                headers["Connection"] = "keep-alive"
        lines = [f"HTTP/{version[0]}.{version[1]} {status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        text = "\r\n".join(lines)
        # One count instead of a check per header: any CR or LF beyond the separators is an injected line.
        if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
            raise ValueError("Newline or carriage return character detected in HTTP status message or header")
        return (text + "\r\n\r\n").encode("utf-8", "surrogateescape")

    async def send(self, request: Any, writer: Writer) -> None:
        """Write the response (here: a head with no body)."""
        writer.write(self.head(request, 0))


class Response(StreamResponse):
    """A response with its body in memory (`body` bytes or `text`)."""

    def __init__(self, *, body: bytes | None = None, status: int = 200, reason: str | None = None,
                 text: str | None = None, headers: Any = None, content_type: str | None = None,
                 charset: str | None = None) -> None:  # fmt: skip
        super().__init__(status=status, reason=reason, headers=headers)
        if body is not None and text is not None:
            raise ValueError("body and text are not allowed together")
        has_type = "Content-Type" in self.headers
        if has_type and (content_type or charset):
            raise ValueError("passing both Content-Type header and content_type or charset params is forbidden")
        if text is not None:
            charset = charset or "utf-8"
            if not has_type:
                self.headers["Content-Type"] = f"{content_type or 'text/plain'}; charset={charset}"
            body = text.encode(charset)
        elif content_type is not None:
            self.headers["Content-Type"] = f"{content_type}; charset={charset}" if charset else content_type
        self.body: bytes = body or b""

    @property
    def text(self) -> str:
        """The body decoded with its charset (UTF-8 by default)."""
        return self.body.decode(self.charset or "utf-8")

    @text.setter
    def text(self, value: str) -> None:
        self.body = value.encode(self.charset or "utf-8")

    async def send(self, request: Any, writer: Writer) -> None:
        """Head and body in one write (no body for HEAD and the empty statuses)."""
        body = self.body
        head = self.head(request, len(body))
        if request.method == "HEAD" or empty_status(self.status) or not body:
            writer.write(head)
        else:
            writer.write(head + body)
