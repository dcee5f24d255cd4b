"""The kernel response cache's bookkeeping and the cacheability rules, without sockets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from multidict import CIMultiDict

from agent.hosting.embedded import cache_policy
from agent.hosting.embedded.cache_policy import FileIdentity, decode_identities, encode_identities
from agent.hosting.embedded.supervisor.response_cache import Entry, Key, ResponseCache


def identity(path: Path) -> FileIdentity:
    return FileIdentity.of(str(path), os.stat(path))


def entry(path: Path, *, body: bytes = b"x", site: str = "s", pool: str = "p", version: str = "v1",
          ttl: float = 60.0) -> Entry:  # fmt: skip
    return Entry(site=site, pool=pool, version=version, files=(identity(path),), status_line=b"HTTP/1.1 200 OK\r\n",
                 headers=b"Content-Length: 1\r\n", body=body, substatus=0, win32=0, log_it=True,
                 expires=time.monotonic() + ttl)  # fmt: skip


def key(n: int) -> Key:
    return (1, "127.0.0.1", 80, False, "host", f"/{n}")


def test_hit_miss_and_lru_by_count(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    cache = ResponseCache(max_entries=2, enabled=True)
    for n in range(3):
        assert cache.store(key(n), entry(page), cache.epoch, "v1")
    assert list(cache.entries) == [key(1), key(2)]  # the oldest went first
    assert cache.lookup(key(1), "v1", "") is not None  # now most recently used
    assert cache.store(key(3), entry(page), cache.epoch, "v1")
    assert list(cache.entries) == [key(1), key(3)]
    assert cache.lookup(key(0), "v1", "") is None
    assert cache.items_added == 4 and cache.items_flushed == 2


def test_bounded_by_bytes(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    one = entry(page, body=b"x" * 100)
    cache = ResponseCache(max_bytes=one.size * 2, enabled=True)
    for n in range(3):
        cache.store(key(n), entry(page, body=b"x" * 100), cache.epoch, "v1")
    assert len(cache.entries) == 2 and cache.bytes == one.size * 2
    assert not cache.store(key(9), entry(page, body=b"x" * one.size * 3), cache.epoch, "v1")


def test_stale_entries_are_dropped(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    cache = ResponseCache(enabled=True)
    cache.store(key(1), entry(page, ttl=-1), cache.epoch, "v1")
    assert cache.lookup(key(1), "v1", "") is None and not cache.entries  # expired
    cache.store(key(1), entry(page), cache.epoch, "v1")
    page.write_text("bb")
    assert cache.lookup(key(1), "v1", "") is None and cache.bytes == 0  # file changed
    cache.store(key(1), entry(page), cache.epoch, "v1")
    cache.store(key(2), entry(page), cache.epoch, "v1")
    assert cache.lookup(key(1), "v2", "") is None and not cache.entries  # config changed: all gone


def test_precompressed_sibling_bypasses_for_accepting_clients(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    cache = ResponseCache(enabled=True)
    cache.store(key(1), entry(page), cache.epoch, "v1")
    (tmp_path / "a.html.br").write_bytes(b"br")
    assert cache.lookup(key(1), "v1", "") is not None
    assert cache.lookup(key(1), "v1", "gzip, deflate") is not None
    assert cache.lookup(key(1), "v1", "gzip, br") is None


def test_flush_epoch_and_version_refuse_late_stores(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    cache = ResponseCache(enabled=True)
    epoch = cache.epoch
    cache.flush()
    assert not cache.store(key(1), entry(page), epoch, "v1")  # the response was in flight across a flush
    assert not cache.store(key(1), entry(page, version="v1"), cache.epoch, "v2")  # config moved on meanwhile
    cache.store(key(1), entry(page, site="a", pool="p1"), cache.epoch, "v1")
    cache.store(key(2), entry(page, site="b", pool="p2"), cache.epoch, "v1")
    assert cache.flush(pool="p1") == 1 and list(cache.entries) == [key(2)]
    assert cache.flush(site="b") == 1 and not cache.entries and cache.bytes == 0


def test_disabled_cache_stores_nothing(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text("a")
    cache = ResponseCache(enabled=False)
    assert not cache.enabled and not cache.store(key(1), entry(page), cache.epoch, "v1")


def test_identity_header_round_trip() -> None:
    files = (FileIdentity("/srv/a b,c%/ü.html", 1, 2, 3), FileIdentity("/srv", 4, 5, 6))
    encoded = encode_identities(files)
    assert encoded.isascii() and decode_identities(encoded) == files
    assert decode_identities("garbage") is None and decode_identities("") is None


def test_request_and_response_rules() -> None:
    assert cache_policy.request_cacheable("GET", CIMultiDict({"Host": "x", "Accept-Encoding": "gzip"}))
    assert cache_policy.request_cacheable("HEAD", CIMultiDict())
    assert not cache_policy.request_cacheable("POST", CIMultiDict())
    for name in ("Range", "If-None-Match", "If-Modified-Since", "Authorization", "Content-Length"):
        assert not cache_policy.request_cacheable("GET", CIMultiDict({name: "1"}))
    assert cache_policy.response_cacheable(CIMultiDict({"Cache-Control": "max-age=60"}))
    for name, value in (("Set-Cookie", "a=b"), ("Vary", "Accept"), ("Cache-Control", "private")):
        assert not cache_policy.response_cacheable(CIMultiDict({name: value}))


class Section:
    def __init__(self, **attrs: object) -> None:
        self.attrs = attrs

    def get(self, name: str) -> object:
        return self.attrs.get(name)


def test_caching_section_defaults_to_enabled() -> None:
    assert cache_policy.load(Section())  # the schema does not know system.webServer/caching: IIS defaults
    assert cache_policy.load(Section(enabled=True, enableKernelCache=True))
    assert not cache_policy.load(Section(enabled=False))
    assert not cache_policy.load(Section(enableKernelCache="false"))


def test_the_switch_is_read_when_a_cache_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IISFLEET_KERNEL_CACHE", "0")
    assert not ResponseCache().enabled
    monkeypatch.delenv("IISFLEET_KERNEL_CACHE")
    assert ResponseCache().enabled
