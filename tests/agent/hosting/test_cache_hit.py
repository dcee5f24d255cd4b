"""cache_hit's parsed-head memo: exact bytes only, bounded, errors not remembered."""

from __future__ import annotations

import pytest

from agent.hosting.embedded import http1
from agent.hosting.embedded.supervisor import cache_hit


def test_same_bytes_reuse_the_head_and_other_bytes_do_not() -> None:
    cache_hit._parsed.clear()
    a = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b = b"GET /a HTTP/1.1\r\nHost: y\r\n\r\n"
    first = cache_hit._parse(a)
    assert cache_hit._parse(a) is first
    other = cache_hit._parse(b)
    assert other is not first and (first.host, other.host) == ("x", "y")


def test_bad_heads_are_not_remembered_and_the_memo_is_bounded() -> None:
    cache_hit._parsed.clear()
    bad = b"GET /a HTTP/1.1\r\n\r\n"  # HTTP/1.1 without Host
    for _ in range(2):
        with pytest.raises(http1.BadRequest):
            cache_hit._parse(bad)
    assert bad not in cache_hit._parsed
    for i in range(cache_hit.PARSED_MAX + 10):
        cache_hit._parse(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    assert len(cache_hit._parsed) <= cache_hit.PARSED_MAX
    big = b"GET /" + b"a" * cache_hit.PARSED_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    cache_hit._parse(big)
    assert big not in cache_hit._parsed
