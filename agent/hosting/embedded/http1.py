"""HTTP/1.x request heads as HTTP.sys parses them, and HTTP.sys's own error responses.

The supervisor parses only the head (request line + headers) to route; bodies are streamed, never parsed.
Anything HTTP.sys would reject is rejected here with its status and its small HTML body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeVar
from urllib.parse import unquote

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(rb"^HTTP/(\d)\.(\d)$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# HTTP.sys's MaxRequestBytes default: request line plus headers.
MAX_HEAD_BYTES = 16384
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Headers the supervisor and worker use to talk to each other; a client's copies are dropped.
INTERNAL_PREFIX = "x-iisfleet-"
_NOT_FORWARDED = HOP_BY_HOP | {"expect"}


def forwarded(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A client's request headers as a worker gets them, relayed or handed off: no hop-by-hop ones, no Expect,
    and no X-IISFleet-* (only the supervisor sets those, so a client cannot forge them)."""
    return [(k, v) for k, v in headers if (lower := k.lower()) not in _NOT_FORWARDED
            and not lower.startswith(INTERNAL_PREFIX)]  # fmt: skip


def end_to_end(name: str) -> bool:
    """Whether a worker's response header reaches the client: not hop-by-hop and not internal."""
    lower = name.lower()
    return lower not in HOP_BY_HOP and not lower.startswith(INTERNAL_PREFIX)


class BadRequest(Exception):
    """The request head cannot be served; `status` and `reason` say how HTTP.sys answers."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class RequestHead:
    """A parsed request line and header block."""

    method: str
    target: str
    version: tuple[int, int]
    headers: list[tuple[str, str]]
    path: str
    query: str
    host: str
    content_length: int | None
    chunked: bool
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive)."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None


def _bad(message: str, reason: str = "Bad Request", status: int = 400) -> BadRequest:
    return BadRequest(status, reason, message)


def parse_head(data: bytes) -> RequestHead:
    """Parse `data` (ending with CRLF CRLF) or raise BadRequest."""
    lines = data[:-4].split(b"\r\n") if data.endswith(b"\r\n\r\n") else data.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise _bad("The request verb or URL is invalid.", "Bad Request - Invalid Verb")
    match = _VERSION.match(parts[2])
    if match is None:
        raise _bad("The request has an invalid header name.", "Bad Request - Invalid Header")
    version = (int(match.group(1)), int(match.group(2)))
    if version[0] != 1:
        raise _bad("The HTTP version is not supported.", "HTTP Version Not Supported", 505)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise _bad("The request has an invalid header name.", "Bad Request - Invalid Header")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise _bad("The request has an invalid header value.", "Bad Request - Invalid Header")
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    target = parts[1].decode("latin-1")
    head = RequestHead(parts[0].decode("ascii"), target, version, headers, "", "", "", None, False, False)
    _finish(head)
    return head


# Parsed heads by their exact bytes: clients repeat the same head for the same URL, and parse_head is a pure
# function of the bytes (its RequestHead is never changed afterwards), so a repeat skips the parse. Bounded:
# cleared when full, and only heads up to PARSED_BYTES (at most 512 KiB held).
T = TypeVar("T")
PARSED_MAX = 256
PARSED_BYTES = 2048
_parsed: dict[bytes, RequestHead] = {}


def remember(memo: dict[bytes, T], raw: bytes, value: T) -> T:
    """Keep `value` for the head bytes `raw` in a bounded memo (short heads only; cleared when full)."""
    if len(raw) <= PARSED_BYTES:
        if len(memo) >= PARSED_MAX:
            memo.clear()
        memo[raw] = value
    return value


def parse_head_cached(raw: bytes) -> RequestHead:
    """parse_head, remembered for short heads (BadRequest propagates, and is not remembered)."""
    head = _parsed.get(raw)
    return head if head is not None else remember(_parsed, raw, parse_head(raw))


def _finish(head: RequestHead) -> None:
    target = head.target
    if target.lower().startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        authority, slash, remainder = rest.partition("/")
        head.host = authority
        target = slash + remainder
    elif not target.startswith("/") and not (target == "*" and head.method == "OPTIONS"):
        raise _bad("The request URL is invalid.", "Bad Request - Invalid URL")
    path, _, query = target.partition("?")
    try:
        head.path = unquote(path, errors="strict")
    except UnicodeDecodeError as err:
        raise _bad("The request URL is invalid.", "Bad Request - Invalid URL") from err
    head.query = query
    hosts = [v for k, v in head.headers if k.lower() == "host"]
    if len(hosts) > 1 or (head.version == (1, 1) and not hosts):
        raise _bad("The request hostname is invalid.", "Bad Request - Invalid Hostname")
    if not head.host:
        head.host = hosts[0] if hosts else ""
    lengths = {v for k, v in head.headers if k.lower() == "content-length"}
    encoding = (head.header("transfer-encoding") or "").lower()
    if encoding:
        if encoding != "chunked" or lengths:
            raise _bad("The request has an invalid header value.", "Bad Request - Invalid Header")
        head.chunked = True
    elif lengths:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise _bad("The request has an invalid header value.", "Bad Request - Invalid Header")
        head.content_length = int(next(iter(lengths)))
    tokens = {t.strip().lower() for t in (head.header("connection") or "").split(",")}
    head.keep_alive = "close" not in tokens if head.version >= (1, 1) else "keep-alive" in tokens


def host_name(host: str) -> str:
    """The host header without its port, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def error_page(status: int, reason: str, message: str) -> bytes:
    """HTTP.sys's error body."""
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
        f"<HTML><HEAD><TITLE>{reason}</TITLE>\r\n"
        '<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
        f"<BODY><h2>{reason}</h2>\r\n<hr><p>HTTP Error {status}. {message}</p>\r\n</BODY></HTML>\r\n"
    ).encode("ascii", "replace")


def error_response(status: int, reason: str, message: str, *, close: bool = True) -> bytes:
    """A complete HTTP.sys error response."""
    body = error_page(status, reason, message)
    head = (
        f"HTTP/1.1 {status} {reason_phrase(status)}\r\nContent-Type: text/html; charset=us-ascii\r\n"
        f"Server: Microsoft-HTTPAPI/2.0\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("ascii") + body


def reason_phrase(status: int) -> str:
    """The standard reason phrase of a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def service_unavailable(*, close: bool = False) -> bytes:
    """The 503 HTTP.sys sends for a stopped pool or a site over its connection limit."""
    return error_response(503, "Service Unavailable", "The service is unavailable.", close=close)
