"""The supervisor's side of the file handoff (file_handoff.py): sendfile(2) a worker's open file to the client.

One in-kernel copy, file -> client socket, instead of sendfile into the worker's unix socket plus two splices.
While it sends, it watches the worker's connection: a worker that dies (or says anything) mid-body cuts the
client off, as it would on the relay path.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable

from agent.hosting.embedded import file_handoff
from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.dispatch import ClientGone
from agent.hosting.embedded.supervisor.splice import flush_transport
from agent.hosting.embedded.supervisor.upstream import ResponseHead, UpstreamConnection, UpstreamError

# Set IISFLEET_FILE_HANDOFF=0 in the agent's environment to keep every body on the relay (for comparisons).
SWITCH = "IISFLEET_FILE_HANDOFF"
SENDFILE = getattr(os, "sendfile", None) if os.environ.get(SWITCH, "1") != "0" else None
OFFER = (file_handoff.HEADER, file_handoff.OFFER)
"""The request header that offers the handoff (only where the relay could splice: plain TCP, no maxBandwidth)."""


async def accept(conn: UpstreamConnection, resp: ResponseHead) -> tuple[int, int] | None:
    """(offset, count) when the worker answered with a file: its one-byte body read, the descriptor checked to
    be a regular file that holds the range and left first in `conn.fds` for `send`, and the head's
    Content-Length set to what the client gets. None for an ordinary answer."""
    handed = file_handoff.decode_range(resp.header(file_handoff.HEADER))
    if handed is None:
        return None
    offset, count = handed
    if resp.content_length != len(file_handoff.MARKER):
        raise UpstreamError("bad file handoff head from worker", before_response=True)
    if await conn.read_some(1) != file_handoff.MARKER or conn.buf or len(conn.fds) != 1:
        raise UpstreamError("bad file handoff body from worker", before_response=True)
    # A descriptor left in conn.fds is closed with the connection (release never pools one holding it).
    st = os.fstat(conn.fds[0])
    if not stat.S_ISREG(st.st_mode) or offset + count > st.st_size:
        raise UpstreamError("worker passed an unusable file descriptor", before_response=True)
    resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
    resp.headers.append(("Content-Length", str(count)))
    resp.content_length = count
    return handed


async def send(conn: UpstreamConnection, writer: ClientStream, offset: int, count: int, limit: float,
               moved: Callable[[int], None]) -> None:  # fmt: skip
    """sendfile `count` bytes from `offset` of the file `accept` left in `conn`; `moved` gets each batch the
    client took."""
    fd = conn.take_fd()
    assert fd is not None
    try:
        await send_file(fd, writer, offset, count, limit, moved, conn.fd)
    finally:
        os.close(fd)


async def send_file(fd: int, writer: ClientStream, offset: int, count: int, limit: float,
                    moved: Callable[[int], None], worker: int | None = None) -> None:  # fmt: skip
    """sendfile `count` bytes from `offset` of the open file `fd` (not closed here) to the client; `moved` gets
    each batch the client took. With `worker`, a worker connection that stirs meanwhile cuts the send."""
    assert SENDFILE is not None
    await flush_transport(writer, limit)  # sendfile must not overtake bytes still queued in the transport
    transport = writer.transport
    loop = asyncio.get_running_loop()
    # Our own descriptor of the client socket: the transport keeps its reader registered on the original.
    client = os.dup(writer.get_extra_info("socket").fileno())
    try:
        while count:
            if transport.is_closing():
                raise ClientGone()
            try:
                sent = SENDFILE(client, fd, offset, count)
            except (BlockingIOError, InterruptedError):
                await _client_or_worker(loop, client, worker, limit)
                continue
            except OSError as err:
                raise ClientGone() from err
            if not sent:
                raise UpstreamError("file shrank while it was sent")  # the Content-Length cannot be met
            offset += sent
            count -= sent
            moved(sent)
    finally:
        os.close(client)


async def _client_or_worker(loop: asyncio.AbstractEventLoop, client: int, worker: int | None, limit: float) -> None:
    """Wait until the client can take more; UpstreamError when the worker's connection stirs first (it has
    nothing more to say on it, so that is EOF: the worker died), ClientGone after `limit` seconds."""
    ready: asyncio.Future[bool] = loop.create_future()

    def wake(writable: bool) -> None:
        if not ready.done():
            ready.set_result(writable)

    loop.add_writer(client, wake, True)
    if worker is not None:
        loop.add_reader(worker, wake, False)
    try:
        async with asyncio.timeout(limit):
            writable = await ready
    except TimeoutError as err:
        raise ClientGone() from err
    finally:
        loop.remove_writer(client)
        if worker is not None:
            loop.remove_reader(worker)
    if not writable:
        raise UpstreamError("worker connection closed mid-body")
