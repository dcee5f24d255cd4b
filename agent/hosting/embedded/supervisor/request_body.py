"""A chunked request body read from the client, with the connection's timeout on every read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from agent.hosting.embedded.supervisor.client_stream import ClientStream
from agent.hosting.embedded.supervisor.dispatch import ClientGone


async def chunked_body(
    reader: ClientStream, limit: float, received: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """The data of a chunked request body, chunk by chunk; `received` counts every byte read (the site's bytes in)."""
    while True:
        async with asyncio.timeout(limit):
            line = await reader.readuntil(b"\r\n")
        received(len(line))
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as err:
            raise ClientGone() from err
        if size == 0:
            while True:  # trailers up to the empty line
                async with asyncio.timeout(limit):
                    trailer = await reader.readuntil(b"\r\n")
                received(len(trailer))
                if trailer == b"\r\n":
                    return
        async with asyncio.timeout(limit):
            data = await reader.readexactly(size + 2)
        received(len(data))
        yield data[:-2]
