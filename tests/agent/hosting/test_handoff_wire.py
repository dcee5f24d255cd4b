"""handoff_wire: every message survives encode/decode, and a descriptor crosses the control socket."""

from __future__ import annotations

import os
import socket

import pytest

from agent.hosting.embedded import handoff_wire as wire

MESSAGES: list[wire.Message] = [
    wire.Hello(),
    wire.Handoff(7, "Default Web Site", 1, "DefaultAppPool", ("127.0.0.5", 50123), ("127.0.0.5", 8080), "v42",
                 120.0, {"": "Default Web Site", "www.example": "Other"},
                 b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n\xff\x00"),  # fmt: skip
    wire.Records([wire.Record(7, "GET", "/a b", "q=1", "x", 404, 3, 2, 1234, 56, 17, "bob", "curl/8", "c=1",
                              "http://r", False, True), wire.Record(8, "HEAD", "/", "", "y", 200)]),  # fmt: skip
    wire.BusyRequests([wire.Busy(7, "GET", "/big.bin?x=1", "example", 250)]),
    wire.Handback(7, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n"),
    wire.Handback(8),
    wire.Closed(7),
    wire.Drain(),
    wire.Close([7, 8]),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_every_message_round_trips(message: wire.Message) -> None:
    assert wire.decode(wire.encode(message)) == message


@pytest.mark.parametrize("packet", [b"", b"{}\n", b'{"kind":"nope"}\n', b'{"kind":"closed"}\n', b"not json\n",
                                    b'{"kind":"records","rows":[[1,"GET"]]}\n', b'{"kind":"records","rows":[7]}\n'])
def test_bad_packets_are_wire_errors(packet: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(packet)


def test_a_descriptor_and_the_bytes_cross_the_socket() -> None:
    ours, theirs = wire.socketpair()
    client, server = socket.socketpair()
    try:
        pipelined = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2000  # ~54 KiB: more than a default packet
        sent = wire.Handoff(1, "s", 1, "p", ("127.0.0.1", 1), ("127.0.0.1", 2), "v", 5.0, {}, pipelined)
        wire.send(ours, sent, server.fileno())
        received = wire.receive(theirs)
        assert received is not None
        message, fd = received
        assert message == sent and fd >= 0 and fd != server.fileno()
        assert os.get_inheritable(fd) is False  # MSG_CMSG_CLOEXEC: no exec'd child inherits a client
        with socket.socket(fileno=fd) as handed:  # the same connection: what the client sends arrives here
            client.sendall(b"ping")
            assert handed.recv(4) == b"ping"
        wire.send(theirs, wire.Closed(1))
        assert wire.receive(ours) == (wire.Closed(1), -1)
        theirs.close()
        assert wire.receive(ours) is None  # EOF: the worker is gone
    finally:
        for sock in (ours, theirs, client, server):
            sock.close()


def test_an_oversized_packet_is_refused_before_sending() -> None:
    ours, theirs = wire.socketpair()
    with ours, theirs, pytest.raises(wire.WireError):
        wire.send(ours, wire.Handback(1, b"x" * wire.MAX_MESSAGE))
