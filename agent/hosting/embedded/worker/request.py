"""Request: one HTTP/1.1 request as the worker's server (worker/server.py) parsed it from the supervisor.

The subset of aiohttp's BaseRequest the pipeline modules use, with the same decoding rules, so module code and
its results did not change when aiohttp left the worker: `path` is percent-decoded (invalid escapes kept),
`query_string` is decoded as yarl decodes it (`+` is a space; `&`, `=`, `+`, `;` stay escaped), `raw_path` and
`path_qs` are the target as sent. Header text is UTF-8 with surrogateescape, as the supervisor encodes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from agent.hosting.embedded.worker.body import BodyReader, BufferSource

_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# Characters yarl leaves escaped in a decoded query string (they would change how it splits).
_QUERY_KEEP = frozenset("&=+;")
_LIST_QUOTED_ETAG = re.compile(r'((W/)?"([!\x23-\x7E\x80-\xff]+)")(?:\s*,\s*|$)|(.)')
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.ASCII | re.IGNORECASE)
ETAG_ANY = "*"


class ETag(NamedTuple):
    """One entity tag of an If-Match / If-None-Match list."""

    value: str
    is_weak: bool = False


def _unescape(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Percent-decode runs of escapes as UTF-8; bytes that are not UTF-8 and characters in `keep` stay escaped."""
    if "%" not in text:
        return text

    def run(match: re.Match[str]) -> str:
        escaped = match.group(0)
        raw = bytes.fromhex(escaped.replace("%", ""))
        decoded = raw.decode("utf-8", "surrogateescape")
        out = []
        for char in decoded:
            if "\udc80" <= char <= "\udcff" or char in keep:
                out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape")))
            else:
                out.append(char)
        return "".join(out)

    return _ESCAPES.sub(run, text)


def decode_path(raw: str) -> str:
    """The path as aiohttp's request.path gives it."""
    return _unescape(raw)


def decode_query(raw: str) -> str:
    """The query as aiohttp's request.query_string gives it."""
    return _unescape(raw.replace("+", " "), _QUERY_KEEP)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date header as a UTC datetime (None when absent or malformed), as aiohttp parses it."""
    if not value:
        return None
    from email.utils import parsedate  # only conditional requests need it: kept off the worker's start-up

    parsed = parsedate(value)
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except ValueError:
        return None


def _etags(value: str | None) -> tuple[ETag, ...] | None:
    if not value:
        return None
    if value == ETAG_ANY:
        return (ETag(ETAG_ANY),)
    found = []
    for match in _LIST_QUOTED_ETAG.finditer(value):
        if match.group(4):
            break
        found.append(ETag(match.group(3), bool(match.group(2))))
    return tuple(found)


class Request:
    """A parsed request head plus its body reader."""

    __slots__ = ("method", "raw_path", "version", "headers", "keep_alive", "content", "transport", "_path",
                 "_query_string", "_done")  # fmt: skip

    def __init__(self, method: str, target: str, version: tuple[int, int], headers: CIMultiDict[str],
                 keep_alive: bool, content: BodyReader, transport: Any = None) -> None:  # fmt: skip
        self.method = method
        self.raw_path = target
        self.version = version
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(headers)
        self.keep_alive = keep_alive
        self.content = content
        self.transport = transport
        self._path: str | None = None
        self._query_string: str | None = None
        self._done: list[Callable[[Request], object]] = []

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        if self._path is None:
            self._path = decode_path(self.raw_path.partition("?")[0])
        return self._path

    @property
    def query_string(self) -> str:
        """The decoded query string (without '?')."""
        if self._query_string is None:
            self._query_string = decode_query(self.raw_path.partition("?")[2])
        return self._query_string

    @property
    def path_qs(self) -> str:
        """Path and query as sent."""
        return self.raw_path

    @property
    def query(self) -> MultiDictProxy[str]:
        """The query's name=value pairs, decoded."""
        from urllib.parse import parse_qsl

        pairs = parse_qsl(self.raw_path.partition("?")[2], keep_blank_values=True)
        return MultiDictProxy(MultiDict(pairs))

    @property
    def host(self) -> str:
        """The Host header (the supervisor always sends one)."""
        return self.headers.get("Host", "")

    @property
    def secure(self) -> bool:
        """False, as aiohttp said for the worker's unix socket (X-IISFleet-Https carries the client's TLS)."""
        return False

    @property
    def content_length(self) -> int | None:
        """The Content-Length header as a number."""
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def if_match(self) -> tuple[ETag, ...] | None:
        """The If-Match entity tags."""
        return _etags(self.headers.get("If-Match"))

    @property
    def if_none_match(self) -> tuple[ETag, ...] | None:
        """The If-None-Match entity tags."""
        return _etags(self.headers.get("If-None-Match"))

    @property
    def if_modified_since(self) -> datetime | None:
        """If-Modified-Since as a datetime."""
        return parse_http_date(self.headers.get("If-Modified-Since"))

    @property
    def if_unmodified_since(self) -> datetime | None:
        """If-Unmodified-Since as a datetime."""
        return parse_http_date(self.headers.get("If-Unmodified-Since"))

    @property
    def if_range(self) -> datetime | None:
        """If-Range as a datetime."""
        return parse_http_date(self.headers.get("If-Range"))

    @property
    def http_range(self) -> slice:
        """The Range header as a slice (aiohttp's rules); ValueError when it is malformed or unsatisfiable."""
        value = self.headers.get("Range")
        if value is None:
            return slice(None, None, 1)
        match = _RANGE.match(value)
        if match is None:
            raise ValueError("range not in acceptable format")
        start = int(match.group(1)) if match.group(1) else None
        end = int(match.group(2)) if match.group(2) else None
        if start is None and end is not None:
            start, end = -end, None  # a suffix: the last `end` bytes
        if start is not None and end is not None:
            end += 1  # inclusive in the header, exclusive in a slice
            if start >= end:
                raise ValueError("start cannot be after end")
        if start is None and end is None:
            raise ValueError("No start or end of range specified")
        return slice(start, end, 1)

    def add_done_callback(self, callback: Callable[[Request], object]) -> None:
        """Call `callback(request)` once the response has been sent (or the request failed)."""
        self._done.append(callback)

    def finished(self) -> None:
        """Run the done callbacks (the server calls this once per request)."""
        callbacks, self._done = self._done, []
        for callback in callbacks:
            callback(self)


def make_request(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Request:
    """A request outside a server (tests, tools): the given head and a complete body."""
    head: CIMultiDict[str] = CIMultiDict(headers or {})
    if "chunked" in head.get("Transfer-Encoding", "").lower():  # sent as the supervisor would: 1000-byte chunks
        pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
        framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        return Request(method, target, (1, 1), head, True, BodyReader(BufferSource(framed), None, chunked=True))
    if body and "Content-Length" not in head:
        head["Content-Length"] = str(len(body))
    return Request(method, target, (1, 1), head, True, BodyReader(BufferSource(body), len(body)))
