"""Request-head parsing as HTTP.sys does it."""

from __future__ import annotations

import pytest

from agent.hosting.embedded import http1


def test_parses_a_keep_alive_request() -> None:
    head = http1.parse_head(b"GET /a%20b/c?x=1 HTTP/1.1\r\nHost: Example.com:81\r\nContent-Length: 3\r\n\r\n")
    assert (head.method, head.path, head.query, head.content_length) == ("GET", "/a b/c", "x=1", 3)
    assert head.keep_alive and http1.host_name(head.host) == "example.com"


def test_http10_closes_unless_asked() -> None:
    assert not http1.parse_head(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert http1.parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"GET noslash HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /%ff HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
)
def test_rejects_malformed_heads(data: bytes) -> None:
    with pytest.raises(http1.BadRequest) as caught:
        http1.parse_head(data)
    assert caught.value.status == 400


def test_service_unavailable_is_http_sys_page() -> None:
    response = http1.service_unavailable()
    assert response.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"<h2>Service Unavailable</h2>" in response and b"HTTP Error 503. The service is unavailable." in response


def test_a_client_cannot_forge_internal_headers_or_hop_by_hop_ones_to_a_worker() -> None:
    headers = [("Host", "a"), ("X-IISFleet-User", "admin"), ("x-iisfleet-site", "Other"), ("Connection", "close"),
               ("Expect", "100-continue"), ("Accept", "*/*")]  # fmt: skip
    assert http1.forwarded(headers) == [("Host", "a"), ("Accept", "*/*")]


@pytest.mark.parametrize(("name", "reaches"), [
    ("Content-Type", True), ("X-Powered-By", True), ("X-IISFleet-User", False), ("x-iisfleet-log", False),
    ("Transfer-Encoding", False), ("Keep-Alive", False),
])  # fmt: skip
def test_only_end_to_end_response_headers_reach_the_client(name: str, reaches: bool) -> None:
    assert http1.end_to_end(name) is reaches
