"""The connection-handoff control channel between the supervisor and one worker (both sides import this).

Each worker gets one SOCK_SEQPACKET socket at spawn (`--control FD`, passed like its listener). A packet is one
message: a JSON header, a newline, then raw bytes (`data`, for the two messages that carry client bytes). At
most one descriptor rides along by SCM_RIGHTS. Stdlib only: the worker imports it.

| kind        | direction | fields                                                           | fd     | data         |
|-------------|-----------|------------------------------------------------------------------|--------|--------------|
| `hello`     | w -> s    | version (HANDOFF_VERSION): the worker serves handed-off clients  | records| -            |
|             |           |                                                                  | socket |              |
| `handoff`   | s -> w    | conn, site, site_id, pool, client, local (ip, port), config,     | client | head + any   |
|             |           | timeout (head wait, s), hosts (listener's host -> site table)    | socket | pipelined    |
| `records`   | w -> s    | rows: the requests served since the last batch (`Record` each)   | -      | -            |
| `busy`      | w -> s    | rows: requests running longer than BUSY_AFTER (`Busy` each)      | -      | -            |
| `handback`  | w -> s    | conn                                                             | client | read, unused |
| `closed`    | w -> s    | conn: the worker closed the client socket (frees the slot)       | -      | -            |
| `drain`     | s -> w    | take no more handoffs; hand idle keep-alive connections back     | -      | -            |
| `close`     | s -> w    | conns: close these connections (their site stopped), then `closed`| -     | -            |

`records` travel on a second socket of the same kind, the records socket, whose supervisor end rides on the
hello. The supervisor has no reader on it: it takes the records in when it needs them (a counters snapshot, a
log flush, its poll) and before every control message, so a busy worker does not wake it once per batch. A
batch that does not fit goes on the control socket instead, which wakes the supervisor and so empties both.

Rules the worker must keep (the supervisor's side is supervisor/handoff*.py):
- the `records` holding a request's row leave BEFORE the last byte of its response, so counters equal what the
  client got (a worker batches the rows of one event-loop turn and releases those answers after the send);
- every `handoff` ends with exactly one `handback` or `closed` for its conn id (a crash counts as `closed`);
- a request for another site or pool is handed back with every byte read and not consumed (its head too).
"""

from __future__ import annotations

import array
import json
import os
import socket
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, NamedTuple

HANDOFF_VERSION = 1
# A packet holds at most a head (http1.MAX_HEAD_BYTES) plus what the client stream buffers (2 x 64 KiB).
MAX_MESSAGE = 256 * 1024
SWITCH = "IISFLEET_CONNECTION_HANDOFF"
"""Set to 0 in the agent's environment to keep every connection on the relay."""


@dataclass(slots=True)
class Hello:
    """The worker announces that it serves handed-off connections."""

    kind: ClassVar[str] = "hello"
    version: int = HANDOFF_VERSION


@dataclass(slots=True)
class Handoff:
    """A client connection for the worker, with the bytes the supervisor already read from it."""

    kind: ClassVar[str] = "handoff"
    conn: int
    site: str
    site_id: int
    pool: str
    client: tuple[str, int]
    local: tuple[str, int]
    config: str
    timeout: float
    hosts: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


class Record(NamedTuple):
    """One request a worker served: what the W3C line and the counters need beyond the connection's own
    (site, client and server address: the supervisor's HandedOff entry). A row of `Records`: a JSON array."""

    conn: int
    method: str
    uri_stem: str
    uri_query: str
    host: str
    status: int
    substatus: int = 0
    win32: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    time_taken_ms: int = 0
    username: str = ""
    user_agent: str = ""
    cookie: str = ""
    referer: str = ""
    log: bool = True  # httpLogging dontLog / a module's choice, as X-IISFleet-Log on the relay
    hit: bool = False  # answered from the worker's copy of the kernel response cache (worker/direct_cache.py)


@dataclass(slots=True)
class Records:
    """The requests a worker served in one turn of its event loop (one packet, one decode for all of them)."""

    kind: ClassVar[str] = "records"
    rows: list[Record] = field(default_factory=list)


class Busy(NamedTuple):
    """A request a worker has been serving on a handed-off connection for a while: the supervisor lists it among
    the requests in flight until its record comes. A row of `BusyRequests`."""

    conn: int
    method: str
    url: str  # the request target as received
    host: str
    elapsed_ms: int


@dataclass(slots=True)
class BusyRequests:
    """Requests that became long-running since the last report (sent on the records socket, in order)."""

    kind: ClassVar[str] = "busy"
    rows: list[Busy] = field(default_factory=list)


@dataclass(slots=True)
class Handback:
    """A connection returned to the supervisor, with every byte read and not consumed."""

    kind: ClassVar[str] = "handback"
    conn: int
    data: bytes = b""


@dataclass(slots=True)
class Closed:
    """The worker closed a handed-off connection."""

    kind: ClassVar[str] = "closed"
    conn: int


@dataclass(slots=True)
class Drain:
    """Take no more handoffs; hand back idle keep-alive connections, finish busy ones."""

    kind: ClassVar[str] = "drain"


@dataclass(slots=True)
class Close:
    """Close these handed-off connections (their site stopped); each answers with `closed`."""

    kind: ClassVar[str] = "close"
    conns: list[int] = field(default_factory=list)


Message = Hello | Handoff | Records | BusyRequests | Handback | Closed | Drain | Close
KINDS: dict[str, type[Message]] = {
    m.kind: m for m in (Hello, Handoff, Records, BusyRequests, Handback, Closed, Drain, Close)
}
BUSY_AFTER = 0.2  # seconds a handed-off request runs before its worker reports it as in flight
_TUPLES = ("client", "local")  # JSON has no tuples


class WireError(ValueError):
    """A packet that is not a message of this table."""


def encode(message: Message) -> bytes:
    """The packet of a message (without its descriptor)."""
    body = asdict(message)
    data: bytes = body.pop("data", b"")
    body["kind"] = message.kind
    return json.dumps(body, separators=(",", ":")).encode() + b"\n" + data


def decode(packet: bytes) -> Message:
    """The message of a packet; WireError when it is not one."""
    header, sep, data = packet.partition(b"\n")
    try:
        body: dict[str, Any] = json.loads(header) if sep else {}
        cls = KINDS[body.pop("kind")]
        known = {f.name for f in fields(cls)}
        if "data" in known:
            body["data"] = data
        for name in _TUPLES:
            if name in body:
                body[name] = (str(body[name][0]), int(body[name][1]))
        if cls is Records:
            body["rows"] = [_record(row) for row in body["rows"]]
        elif cls is BusyRequests:
            body["rows"] = [Busy(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in body["rows"]]
        return cls(**{k: v for k, v in body.items() if k in known})
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise WireError(f"bad handoff packet: {err}") from err


def _record(row: Any) -> Record:
    if not isinstance(row, list) or not 6 <= len(row) <= len(Record._fields):
        raise WireError("a record row is an array of the Record fields")
    return Record(*row)


def encode_rows(rows: list[str]) -> bytes:
    """The `records` packet of rows a worker encoded itself (JSON arrays in Record's field order)."""
    return ('{"kind":"records","rows":[' + ",".join(rows) + "]}\n").encode("ascii")


def send(sock: socket.socket, message: Message, fd: int = -1) -> None:
    """Send one message, with `fd` attached when >= 0 (BlockingIOError on a full non-blocking socket)."""
    send_packet(sock, encode(message), fd)


def send_packet(sock: socket.socket, packet: bytes, fd: int = -1) -> None:
    """Send an encoded message (a worker pre-encodes its records), with `fd` attached when >= 0."""
    if len(packet) > MAX_MESSAGE:
        raise WireError(f"handoff packet of {len(packet)} bytes exceeds {MAX_MESSAGE}")
    if fd >= 0:
        sock.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    else:
        sock.send(packet)


def receive(sock: socket.socket) -> tuple[Message, int] | None:
    """One message and its descriptor (-1 when none; close-on-exec), None at EOF (BlockingIOError when empty
    and non-blocking). A packet with more than one descriptor keeps the first and closes the others."""
    fds = array.array("i")
    packet, ancdata, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(4 * fds.itemsize),
                                                  socket.MSG_CMSG_CLOEXEC)  # fmt: skip
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    for extra in fds[1:]:
        _close(extra)
    if not packet:
        if fds:
            _close(fds[0])
        return None
    try:
        message = decode(packet)
    except WireError:
        if fds:
            _close(fds[0])
        raise
    return message, (fds[0] if fds else -1)


def socketpair() -> tuple[socket.socket, socket.socket]:
    """(supervisor's end, worker's end) of a new control channel, with room for a full packet each way."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_MESSAGE)
    return ours, theirs


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
