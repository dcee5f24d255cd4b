"""The X-Accel-Redirect-style contract: a worker hands a large static file to the supervisor to send itself.

The supervisor offers it on a request whose answer it could send with sendfile(2) (plain TCP, no
maxBandwidth), with `OFFER` in the request. The worker's static-file module may then answer with the final
head, `HEADER: <offset> <count>` in it, and `Content-Length: 1`: that one body byte carries the open file's
descriptor by SCM_RIGHTS. No path crosses the boundary, so the supervisor neither resolves nor confines a
path (no TOCTOU); it can read only what the worker had already opened and could have sent itself. The
supervisor replaces Content-Length with `count`, strips `HEADER` (as every X-IISFleet-* header) and sends the
file to the client. The worker strips `HEADER` from any answer its static-file module did not produce.
"""

from __future__ import annotations

HEADER = "X-IISFleet-Sendfile"
"""Request: the supervisor's offer (value OFFER). Response: the byte range of the passed file."""
OFFER = "1"
MARKER = b"\0"
"""The single body byte the descriptor rides on."""


def encode_range(offset: int, count: int) -> str:
    """The response header's value."""
    return f"{offset} {count}"


def decode_range(value: str) -> tuple[int, int] | None:
    """(offset, count) from the response header's value; None when malformed."""
    first, _, second = value.partition(" ")
    if not (first.isdigit() and second.isdigit()):
        return None
    count = int(second)
    return (int(first), count) if count > 0 else None
