"""http1.parse_head_cached: the parsed-head memo: exact bytes only, bounded, errors not remembered."""

from __future__ import annotations

import pytest

from agent.hosting.embedded import http1


def test_same_bytes_reuse_the_head_and_other_bytes_do_not() -> None:
    http1._parsed.clear()
    a = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b = b"GET /a HTTP/1.1\r\nHost: y\r\n\r\n"
    first = http1.parse_head_cached(a)
    assert http1.parse_head_cached(a) is first
    other = http1.parse_head_cached(b)
    assert other is not first and (first.host, other.host) == ("x", "y")


def test_bad_heads_are_not_remembered_and_the_memo_is_bounded() -> None:
    http1._parsed.clear()
    bad = b"GET /a HTTP/1.1\r\n\r\n"  # HTTP/1.1 without Host
    for _ in range(2):
        with pytest.raises(http1.BadRequest):
            http1.parse_head_cached(bad)
    assert bad not in http1._parsed
    for i in range(http1.PARSED_MAX + 10):
        http1.parse_head_cached(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    assert len(http1._parsed) <= http1.PARSED_MAX
    big = b"GET /" + b"a" * http1.PARSED_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    http1.parse_head_cached(big)
    assert big not in http1._parsed
