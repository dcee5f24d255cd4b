"""The floor of any CPython static-file server: what the embedded host could reach if it did nothing else.

bench/embedded_vs_nginx.py runs this as a third server next to the embedded host and nginx (issue 13, P2), so
the report shows how much of the gap to nginx is the language and how much is the embedded host's own work.

Per request it does the least an honest static-file server does: find the end of the head, take the path from
the request line, open and fstat the file under the root, and send a head with Content-Length plus the body
(read for small files, sendfile for large ones). No logging, no config, no modules, no conditional requests,
no keep-alive limits. `--processes N` forks N servers on one listening socket after binding it (nginx's
model); `--uvloop` uses uvloop's event loop when it is installed (uvloop has no loop.sendfile, so large bodies
are then read and written through Python).

    python bench/python_floor_server.py --address 127.0.0.5 --port 8080 --root DIR [--processes 2] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from typing import Any

SMALL_LIMIT = 64 * 1024  # bodies up to this are read and written; larger ones go out with sendfile
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class FloorProtocol(asyncio.Protocol):
    """One connection: requests answered in order, keep-alive, no pipelining beyond what arrives together."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.buffer = b""
        self.transport: Any = None
        self.sending: asyncio.Task[None] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.sending is None:
            self._serve()

    def _serve(self) -> None:
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            path = head.split(b" ", 2)[1].decode("latin-1").lstrip("/")
            try:
                if ".." in path:
                    raise PermissionError(path)
                fd = os.open(os.path.join(self.root, path), os.O_RDONLY)
            except OSError:
                self.transport.write(NOT_FOUND)
                continue
            size = os.fstat(fd).st_size
            head_out = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % size
            if size <= SMALL_LIMIT:
                self.transport.write(head_out + os.read(fd, size))
                os.close(fd)
                continue
            self.transport.write(head_out)
            self.sending = asyncio.get_running_loop().create_task(self._sendfile(fd, size))
            return

    async def _sendfile(self, fd: int, size: int) -> None:
        try:
            with os.fdopen(fd, "rb") as file:
                try:
                    await asyncio.get_running_loop().sendfile(self.transport, file, 0, size)
                except NotImplementedError:  # uvloop: no sendfile, so one read and one write
                    self.transport.write(file.read(size))
        except (ConnectionError, RuntimeError):
            self.transport.close()
            return
        self.sending = None
        self._serve()


async def serve(sock: socket.socket, root: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FloorProtocol(root), sock=sock)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    sock = socket.create_server((args.address, args.port), backlog=1024)
    sock.setblocking(False)
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if args.uvloop:
                with contextlib.suppress(ImportError):
                    import uvloop  # type: ignore[import-not-found,unused-ignore]

                    uvloop.install()
            asyncio.run(serve(sock, os.path.realpath(args.root)))
            os._exit(0)
        children.append(pid)
    sock.close()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
    return 0


if __name__ == "__main__":
    sys.exit(main())
