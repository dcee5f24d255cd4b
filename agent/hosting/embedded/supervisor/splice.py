"""splice(2) relay of a response body from a worker's unix socket to a plain-TCP client, in the kernel."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.dispatch import ClientGone
from agent.hosting.embedded.supervisor.upstream import UpstreamConnection, UpstreamError

SPLICE = getattr(os, "splice", None)
SPLICE_FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)


async def splice_body(conn: UpstreamConnection, writer: ClientStream, remaining: int, limit: float,
                      count: Callable[[int], None]) -> None:  # fmt: skip
    """Relay `remaining` body bytes worker -> pipe -> client; `count` gets each batch the client took."""
    assert SPLICE is not None
    transport = writer.transport
    await flush_transport(writer, limit)  # splice must not overtake bytes still queued in the transport
    loop = asyncio.get_running_loop()
    # Our own descriptor of the client socket: the transport keeps its reader registered on the original.
    client = os.dup(writer.get_extra_info("socket").fileno())
    pipe_out, pipe_in = conn.splice_pipe()
    capacity = conn.pipe_size
    in_pipe = 0
    try:
        while remaining or in_pipe:
            if transport.is_closing():
                raise ClientGone()
            moved_in = moved_out = 0
            if remaining and in_pipe < capacity:
                try:
                    moved_in = SPLICE(conn.fd, pipe_in, min(remaining, capacity - in_pipe), flags=SPLICE_FLAGS)
                except BlockingIOError:
                    pass
                except OSError as err:
                    raise UpstreamError(f"worker connection failed mid-body: {err}") from err
                else:
                    if not moved_in:
                        raise UpstreamError("worker closed the connection mid-body")
                    remaining -= moved_in
                    in_pipe += moved_in
            if in_pipe:
                try:
                    moved_out = SPLICE(pipe_out, client, in_pipe, flags=SPLICE_FLAGS)
                except BlockingIOError:
                    pass
                except OSError as err:
                    raise ClientGone() from err
                else:
                    in_pipe -= moved_out
                    count(moved_out)
            if moved_in or moved_out:
                continue
            if in_pipe:
                try:
                    await _ready(loop, client, writable=True, limit=limit)
                except TimeoutError as err:
                    raise ClientGone() from err
            else:
                await _ready(loop, conn.fd, writable=False, limit=None)
    finally:
        os.close(client)


async def flush_transport(writer: ClientStream, limit: float) -> None:
    """Wait until the transport has handed every queued byte to the kernel (ClientGone after `limit` s)."""
    transport = writer.transport
    if transport.get_write_buffer_size():
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0, low=0)
        try:
            async with asyncio.timeout(limit):
                await writer.drain()
        except (ConnectionError, TimeoutError) as err:
            raise ClientGone() from err
        finally:
            transport.set_write_buffer_limits(high=high, low=low)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, writable: bool, limit: float | None) -> None:
    """Wait until `fd` is writable / readable (TimeoutError after `limit` seconds)."""
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        async with asyncio.timeout(limit):
            await ready
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
