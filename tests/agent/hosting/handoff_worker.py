"""A test-double worker process for the handoff tests: it speaks handoff_wire on its control socket.

`python -m tests.agent.hosting.handoff_worker --fd N --control M [--hello]`. On its unix listener (the relay)
it answers every request `relay`. With --hello it announces handoff support and serves handed-off client
sockets itself: `handed <path>` for each request (its `record` sent before the answer), a handback with every
unconsumed byte for a path under /other/, and every idle connection handed back on `drain`.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
from dataclasses import dataclass, field

from agent.hosting.embedded import handoff_wire as wire
from agent.hosting.embedded.wire import READY_LINE

RELAY_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nrelay"


@dataclass
class Handed:
    """A client socket this worker holds."""

    message: wire.Handoff
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)


class Worker:
    def __init__(self, listener: socket.socket, control: socket.socket) -> None:
        self.listener = listener
        self.control = control
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, Handed] = {}
        self.draining = False
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.sel.register(control, selectors.EVENT_READ, "control")
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")

    def run(self) -> None:
        while True:
            for key, _ in self.sel.select():
                tag = key.data
                if tag == "listen":
                    conn, _ = self.listener.accept()
                    self.sel.register(conn, selectors.EVENT_READ, ("relay", bytearray()))
                elif tag == "stdin":
                    if not os.read(sys.stdin.fileno(), 1024):
                        return
                elif tag == "control":
                    if not self.on_control():
                        return
                elif tag[0] == "relay":
                    self.on_relay(key.fileobj, tag[1])  # type: ignore[arg-type]
                else:
                    self.on_client(self.conns[tag[1]])

    def on_control(self) -> bool:
        received = wire.receive(self.control)
        if received is None:
            return False
        message, fd = received
        if isinstance(message, wire.Handoff):
            handed = Handed(message, socket.socket(fileno=fd), bytearray(message.data))
            self.conns[message.conn] = handed
            self.sel.register(handed.sock, selectors.EVENT_READ, ("handed", message.conn))
            if self.draining:
                self.hand_back(handed)
            else:
                self.serve(handed)
        elif isinstance(message, wire.Drain):
            self.draining = True
            for handed in list(self.conns.values()):  # all idle: this worker answers at once
                self.hand_back(handed)
        elif isinstance(message, wire.Close):
            for conn in message.conns:
                if conn in self.conns:
                    self.close(self.conns[conn])
        return True

    def on_relay(self, conn: socket.socket, buf: bytearray) -> None:
        data = conn.recv(65536)
        if not data:
            self.sel.unregister(conn)
            conn.close()
            return
        buf += data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            del buf[: end + 4]
            conn.sendall(RELAY_ANSWER)

    def on_client(self, handed: Handed) -> None:
        try:
            data = handed.sock.recv(65536)
        except ConnectionError:
            data = b""
        if not data:
            self.close(handed)
            return
        handed.buf += data
        self.serve(handed)

    def serve(self, handed: Handed) -> None:
        while (end := handed.buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(handed.buf[: end + 4])
            method, target, version = head.split(b"\r\n", 1)[0].decode().split(" ")
            path, _, query = target.partition("?")
            if path.startswith("/other/"):
                self.hand_back(handed)  # this head and everything behind it go back
                return
            del handed.buf[: end + 4]
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in head.decode().split("\r\n")[1:] if line)}  # fmt: skip
            body = f"handed {path}".encode()
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
            message = handed.message
            wire.send(self.control, wire.Records([wire.Record(
                message.conn, method, path, query, headers.get("host", ""), 200, bytes_sent=len(answer),
                bytes_received=len(head), user_agent=headers.get("user-agent", ""),
            )]))  # fmt: skip  # before the answer's last byte
            handed.sock.sendall(answer)
            if headers.get("connection", "").lower() == "close":
                self.close(handed)
                return

    def hand_back(self, handed: Handed) -> None:
        self.sel.unregister(handed.sock)
        del self.conns[handed.message.conn]
        wire.send(self.control, wire.Handback(handed.message.conn, bytes(handed.buf)), handed.sock.fileno())
        handed.sock.close()

    def close(self, handed: Handed) -> None:
        self.sel.unregister(handed.sock)
        del self.conns[handed.message.conn]
        handed.sock.close()
        wire.send(self.control, wire.Closed(handed.message.conn))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--hello", action="store_true")
    args = parser.parse_args()
    control = socket.socket(fileno=args.control)
    if args.hello:
        wire.send(control, wire.Hello())
    worker = Worker(socket.socket(fileno=args.fd), control)
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()
    worker.run()


if __name__ == "__main__":
    main()
