"""The pure rules of issue 11's modules: addresses and subnets, status-code ranges, MIME lists, Basic headers,
outbound tag rewriting and inetpub paths."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded import inetpub
from agent.hosting.embedded.worker.modules import compression, ip_restriction, url_rewrite_outbound
from agent.hosting.embedded.worker.modules.basic_auth import credentials
from agent.hosting.embedded.worker.modules.failed_request_tracing import TraceRule, _codes, fires
from shared.asyncio_utils import create_task


def _ip(entries: list[tuple[str, str, bool]], allow_unlisted: bool = True) -> ip_restriction.IpSettings:
    nets = tuple((ip_restriction.network(a, m), ok) for a, m, ok in entries)
    return ip_restriction.IpSettings(nets, allow_unlisted, 403, False)


def test_ip_entries_first_match_wins_ipv4_and_ipv6() -> None:
    rules = _ip([("10.0.0.5", "", True), ("10.0.0.0", "255.255.255.0", False), ("2001:db8::", "32", False)])
    assert ip_restriction.allowed(rules, "10.0.0.5")  # listed before the subnet that denies it
    assert not ip_restriction.allowed(rules, "10.0.0.77")
    assert ip_restriction.allowed(rules, "10.0.1.1")  # unlisted
    assert not ip_restriction.allowed(rules, "2001:db8:1::9")
    assert ip_restriction.allowed(rules, "2001:db9::1")
    assert not ip_restriction.allowed(rules, "::ffff:10.0.0.9")  # IPv4-mapped compares as IPv4
    only = _ip([("::1", "255.255.255.255", True)], allow_unlisted=False)  # the schema's default mask on IPv6
    assert ip_restriction.allowed(only, "::1") and not ip_restriction.allowed(only, "::2")


def test_trace_status_codes_and_time_taken() -> None:
    rule = TraceRule("*", _codes("404.2, 500-599,bad"), 2.0, "Verbose")
    assert fires(rule, 503, 0, 0.1) == "STATUS_CODE"
    assert fires(rule, 404, 2, 0.1) == "STATUS_CODE" and fires(rule, 404, 0, 0.1) == ""
    assert fires(rule, 200, 0, 2.5) == "TIME_TAKEN"


def test_compression_mime_lists_and_accept_encoding() -> None:
    types = (("text/*", True), ("application/javascript", True), ("*/*", False))
    assert compression.type_enabled(types, "text/html; charset=utf-8")
    assert compression.type_enabled(types, "application/javascript")
    assert not compression.type_enabled(types, "image/png")
    assert compression.encode(b"a" * 100, "deflate", 6) != compression.encode(b"a" * 100, "gzip", 6)


def test_basic_credentials() -> None:
    token = base64.b64encode(b"DOMAIN\\alice:p:w").decode()
    assert credentials(f"Basic {token}") == ("alice", "p:w")
    assert credentials("Basic !!!") is None
    assert credentials("Bearer x") is None
    assert credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None


def _outbound(tags: dict[str, frozenset[str]], pattern: str, value: str) -> url_rewrite_outbound.OutboundRule:
    return url_rewrite_outbound.OutboundRule(
        name="r", precondition=None, header="", tags=tags, regex=re.compile(pattern, re.IGNORECASE), negate=False,
        conditions=(), match_any=False, rewrite=True, value=value, stop=False,
    )  # fmt: skip


class _State(url_rewrite_outbound._Response):
    def __init__(self) -> None:  # no request: the rules here expand only {R:n}
        self.ctx: Any = None
        self.rule, self.cond = (), ()


def test_outbound_tags_rewrite_only_their_attributes() -> None:
    html = "<A HREF='http://old/a'>x</A><div data-src=http://old/d></div><img src=\"http://old/i\"/>"
    tags = {"a": frozenset({"href"}), "div": frozenset({"data-src"})}
    out = url_rewrite_outbound._body_text(_outbound(tags, r"^http://old/(.*)", "/new/{R:1}"), _State(), html)
    assert out == "<A HREF='/new/a'>x</A><div data-src=\"/new/d\"></div><img src=\"http://old/i\"/>"
    whole = url_rewrite_outbound._body_text(_outbound({}, r"http://old/", "https://new/"), _State(), html)
    assert "http://old" not in whole


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (r"%SystemDrive%\inetpub\temp\IIS Temporary Compressed Files", "inetpub/temp/IIS Temporary Compressed Files"),
        (r"C:\inetpub\logs\..\logs\FailedReqLogFiles", "inetpub/logs/logs/FailedReqLogFiles"),
        ("/var/tmp/x", "/var/tmp/x"),
        (r"D:\elsewhere", None),
    ],
)
def test_inetpub_paths_map_under_the_state_directory(configured: str, expected: str | None, tmp_path: Path) -> None:
    found = inetpub.resolve(configured, tmp_path)
    if expected is None:
        assert found is None
    else:
        assert found == (Path(expected) if expected.startswith("/") else tmp_path / expected)


class _Ctx:
    """Just what DynamicIpRestrictionModule reads from an HttpContext."""

    def __init__(self, settings: Any, client: str, task: Any) -> None:
        self._settings, self._client, self.site_id = settings, client, 1
        # A request ends when its handler task does (the worker's server calls the request's done callbacks then).
        self.request = type("R", (), {"add_done_callback": staticmethod(task.add_done_callback)})()
        self.kernel_cacheable, self.denied = True, 0

    def settings(self, section: str, loader: Any) -> Any:
        return self._settings

    def client_ip(self) -> str:
        return self._client

    def error(self, status: int, substatus: int = 0) -> None:
        self.denied = status * 1000 + substatus


async def test_dynamic_concurrency_is_per_client_and_ends_with_the_request() -> None:
    from agent.hosting.embedded.worker.modules.dynamic_ip_restriction import DynamicIpRestrictionModule, DynamicSettings

    module = DynamicIpRestrictionModule()
    limits = DynamicSettings(max_concurrent=2, max_requests=0, interval=1.0, deny_status=403, logging_only=False)
    release = asyncio.Event()
    tasks = [create_task(release.wait(), name="held") for _ in range(4)]
    contexts = [_Ctx(limits, "10.0.0.1", t) for t in tasks[:3]] + [_Ctx(limits, "10.0.0.2", tasks[3])]
    for ctx in contexts:
        module.begin_request(ctx)  # type: ignore[arg-type]
    assert [c.denied for c in contexts] == [0, 0, 403502, 0]
    release.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert module.in_progress == {}
    later = _Ctx(limits, "10.0.0.1", create_task(asyncio.sleep(0), name="later"))
    module.begin_request(later)  # type: ignore[arg-type]
    assert later.denied == 0


def test_default_files_location_covers_the_inetpub_tree(tmp_path: Path) -> None:
    from agent.app import open_config_store
    from agent.hosting.embedded.model import log_directory, read_server
    from agent.settings import default_settings

    store = open_config_store(tmp_path)  # first run: the stock file
    [location] = default_settings(tmp_path)["files"]["locations"]
    root = Path(location["path"]).resolve()
    site = store.section("system.applicationHost/sites").collection().find(name="Default Web Site")
    assert site is not None
    folders = [
        Path(str(site.child("traceFailedRequestsLogging").get("directory"))),
        Path(str(store.effective_section("system.webServer/httpCompression", "").get("directory"))),
        log_directory(read_server(store, "").sites["default web site"].log, tmp_path),
        inetpub.resolve(r"%SystemDrive%\inetpub\temp", tmp_path),
    ]
    for folder in folders:
        assert folder is not None and folder.resolve().is_relative_to(root), folder


def test_redirect_locations() -> None:
    from agent.hosting.embedded.worker.modules.http_redirect import RedirectSettings, location

    plain = RedirectSettings("http://new/base", exact=False, child_only=False, status=302)
    assert location(plain, "/app/a/b.htm", "/app", "x=1") == "http://new/base/a/b.htm?x=1"
    assert location(plain, "/app/a b\r\n", "/app", "") == "http://new/base/a%20b%0D%0A"
    child = RedirectSettings("http://new/", exact=False, child_only=True, status=302)
    assert location(child, "/app/b.htm", "/app", "") == "http://new/b.htm"
    assert location(child, "/app/sub/b.htm", "/app", "") is None
    exact = RedirectSettings("http://new/landing$Q", exact=True, child_only=False, status=301)
    assert location(exact, "/x", "/", "q=2") == "http://new/landing?q=2"
    wild = RedirectSettings("", exact=False, child_only=False, status=302,
                            wildcards=(("*.asp", "/default.htm"), ("*", "/other.htm")))  # fmt: skip
    assert location(wild, "/old/page.ASP", "/", "") == "/default.htm"
    assert location(wild, "/old/page.txt", "/", "") == "/other.htm"
