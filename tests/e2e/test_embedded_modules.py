"""Issue 11's pipeline modules against the real embedded host: one visible effect per module."""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest

from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit
from tests.e2e.test_embedded_host import Hosted, run_host

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
SITE = "Default Web Site"
WS = "system.webServer/"
BIG = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(200))[:10240]


@pytest.fixture
async def hosted(tmp_path: Path) -> AsyncIterator[Hosted]:
    """A site with a large and a small text file, an HTML page with links and a custom error page."""
    files = {
        "index.html": "<h1>home</h1>", "big.txt": BIG, "small.txt": "s" * 100, "sub/notes.txt": "notes",
        "page.html": '<html><body><a href="http://old.example/x">x</a><img src="http://old.example/i.png">'
                     "</body></html>",
        "errors/404.html": "<p>custom not found</p>", "file.fleet": "fleet data", "file.zzz": "unknown",
        "other/x.txt": "x",
    }  # fmt: skip
    async with run_host(tmp_path, files) as running:
        yield running


async def change(hosted: Hosted, what: Any) -> None:
    """Apply a config change and let the host pick it up."""
    edit(hosted.store, what)
    await hosted.host.tick()


def enable(cfg: ConfigStore, *modules: str) -> None:
    """Add modules a stock install leaves out (as a feature install does)."""
    for name in modules:
        cfg.section(WS + "modules", "").collection().add(name=name)


def session(address: str | None = None, **kw: Any) -> aiohttp.ClientSession:
    """A client session, optionally from a chosen loopback source address."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0) if address else None, force_close=True)
    return aiohttp.ClientSession(connector=connector, **kw)


async def test_http_redirect_status_location_child_only(hosted: Hosted) -> None:
    def redirect(cfg: ConfigStore) -> None:
        section = cfg.section(WS + "httpRedirect", SITE)
        for attr, value in (("enabled", True), ("destination", "http://new.example/base"),
                            ("httpResponseStatus", "Permanent"), ("childOnly", True)):  # fmt: skip
            section.set(attr, value)
        sub = cfg.section(WS + "httpRedirect", f"{SITE}/sub")
        for attr, value in (("enabled", True), ("destination", "https://exact.example/landing"),
                            ("exactDestination", True), ("httpResponseStatus", "PermRedirect")):  # fmt: skip
            sub.set(attr, value)

    await change(hosted, redirect)
    async with session() as client:
        async with client.get(hosted.url + "/small.txt?a=1", allow_redirects=False) as resp:
            assert resp.status == 301
            assert resp.headers["Location"] == "http://new.example/base/small.txt?a=1"
        async with client.get(hosted.url + "/other/x.txt", allow_redirects=False) as resp:
            assert resp.status == 200  # childOnly: content in a subdirectory is not redirected
        async with client.get(hosted.url + "/sub/notes.txt", allow_redirects=False) as resp:
            assert resp.status == 308 and resp.headers["Location"] == "https://exact.example/landing"


async def test_ip_restriction_denied_subnet_gets_deny_action(hosted: Hosted) -> None:
    def deny(cfg: ConfigStore) -> None:
        section = cfg.section(WS + "security/ipSecurity", SITE)
        section.set("denyAction", "NotFound")
        section.collection().add(ipAddress="127.0.0.128", subnetMask="255.255.255.128", allowed=False)

    await change(hosted, deny)
    async with session("127.0.0.200") as denied, session("127.0.0.1") as allowed:
        async with denied.get(hosted.url + "/small.txt") as resp:
            assert resp.status == 404 and "404.503" in await resp.text()
        async with allowed.get(hosted.url + "/small.txt") as resp:
            assert resp.status == 200
    await change(hosted, lambda c: c.section(WS + "security/ipSecurity", SITE).set("denyAction", "AbortRequest"))
    async with session("127.0.0.200") as denied:
        with pytest.raises(aiohttp.ClientError):
            async with denied.get(hosted.url + "/small.txt") as resp:
                await resp.read()


async def test_dynamic_ip_burst_is_refused_while_a_slow_client_is_served(hosted: Hosted) -> None:
    def limit(cfg: ConfigStore) -> None:
        enable(cfg, "DynamicIpRestrictionModule")
        rate = cfg.section(WS + "security/dynamicIpSecurity", SITE).child("denyByRequestRate")
        for attr, value in (("enabled", True), ("maxRequests", 5), ("requestIntervalInMilliseconds", 2000)):
            rate.set(attr, value)

    await change(hosted, limit)
    async with session("127.0.0.1") as burst, session("127.0.0.99") as slow:
        statuses = []
        for _ in range(15):
            async with burst.get(hosted.url + "/small.txt") as resp:
                statuses.append(resp.status)
        assert statuses[:5] == [200] * 5 and 403 in statuses[5:], statuses
        for _ in range(3):
            async with slow.get(hosted.url + "/small.txt") as resp:
                assert resp.status == 200


async def test_static_compression_gzip_threshold_and_range(hosted: Hosted) -> None:
    headers = {"Accept-Encoding": "gzip, deflate"}
    async with session(auto_decompress=False) as client:
        async with client.get(hosted.url + "/big.txt", headers=headers) as resp:
            assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
            assert "Accept-Encoding" in resp.headers["Vary"]
            body = await resp.read()
            assert int(resp.headers["Content-Length"]) == len(body) < len(BIG)
            assert gzip.decompress(body) == BIG.encode()
            etag = resp.headers["ETag"]
        async with client.get(hosted.url + "/big.txt", headers={**headers, "If-None-Match": etag}) as resp:
            assert resp.status == 304
        async with client.get(hosted.url + "/small.txt", headers=headers) as resp:
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
            assert await resp.read() == b"s" * 100
        async with client.get(hosted.url + "/big.txt", headers={**headers, "Range": "bytes=0-9"}) as resp:
            assert resp.status == 206 and "Content-Encoding" not in resp.headers
            assert await resp.read() == BIG[:10].encode()
    cache = hosted.store.path.parent / "temp" / "IIS Temporary Compressed Files" / "W3SVC1"
    assert [p.suffix for p in cache.iterdir()] == [".gzip"]


async def test_custom_error_page_is_served(hosted: Hosted) -> None:
    def custom(cfg: ConfigStore) -> None:
        section = cfg.section(WS + "httpErrors", SITE)
        section.set("errorMode", "Custom")
        section.collection().add(statusCode=404, path="errors\\404.html", responseMode="File")

    async with session() as client:
        async with client.get(hosted.url + "/missing.html") as resp:
            assert resp.status == 404 and "Detailed Error" in await resp.text()
        await change(hosted, custom)
        async with client.get(hosted.url + "/missing.html") as resp:
            assert resp.status == 404 and await resp.text() == "<p>custom not found</p>"


async def test_mime_maps_and_client_cache(hosted: Hosted) -> None:
    def static(cfg: ConfigStore) -> None:
        section = cfg.section(WS + "staticContent", SITE)
        section.collection().add(fileExtension=".fleet", mimeType="application/x-fleet")
        cache = section.child("clientCache")
        cache.set("cacheControlMode", "UseMaxAge")
        cache.set("cacheControlMaxAge", "01:00:00")
        cache.set("cacheControlCustom", "public")

    async with session() as client:
        async with client.get(hosted.url + "/file.fleet") as resp:
            assert resp.status == 404  # 404.3: no MIME map yet
        await change(hosted, static)
        async with client.get(hosted.url + "/file.fleet") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/x-fleet"
            assert resp.headers["Cache-Control"] == "max-age=3600, public"
        async with client.get(hosted.url + "/file.zzz") as resp:
            assert resp.status == 404 and "404.3" in await resp.text()


def basic_header(user: str, password: str) -> dict[str, str]:
    """An Authorization: Basic header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.contextmanager
def local_accounts() -> Iterator[tuple[str, str, str, str]]:
    """Two throwaway accounts (the first in a throwaway group): (user, other, password, group)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creating local accounts needs root and useradd")
    tag = secrets.token_hex(3)
    user, other, group, password = f"iisf{tag}a", f"iisf{tag}b", f"iisfg{tag}", secrets.token_urlsafe(12)
    subprocess.run(["groupadd", group], check=True)
    try:
        for name in (user, other):
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], check=True)
        subprocess.run(["usermod", "-aG", group, user], check=True)
        subprocess.run(["chpasswd"], input=f"{user}:{password}\n{other}:{password}\n", text=True, check=True)
        yield user, other, password, group
    finally:
        for name in (user, other):
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)


async def test_basic_auth_and_url_authorization_with_local_accounts(hosted: Hosted) -> None:
    pytest.importorskip("pamela")
    with local_accounts() as (user, other, password, group):

        def basic(cfg: ConfigStore) -> None:
            enable(cfg, "BasicAuthenticationModule", "UrlAuthorizationModule")
            auth = WS + "security/authentication/"
            cfg.section(auth + "basicAuthentication", SITE).set("enabled", True)
            cfg.section(auth + "basicAuthentication", SITE).set("realm", "Fleet")
            cfg.section(auth + "anonymousAuthentication", SITE).set("enabled", False)
            cfg.section(WS + "security/authorization", SITE).collection().add(accessType="Deny", roles=group)

        await change(hosted, basic)
        url = hosted.url + "/small.txt"
        async with session() as client:
            async with client.get(url) as resp:
                assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="Fleet"'
            async with client.get(url, headers=basic_header(other, password)) as resp:
                assert resp.status == 200
            async with client.get(url, headers=basic_header(other, password + "x")) as resp:
                assert resp.status == 401 and "401.1" in await resp.text()
            async with client.get(url, headers=basic_header(user, password)) as resp:
                assert resp.status == 401 and "401.2" in await resp.text()  # denied by role


async def test_failed_request_trace_file_for_a_500(hosted: Hosted) -> None:
    def trace(cfg: ConfigStore) -> None:
        enable(cfg, "FailedRequestsTracingModule", "RewriteModule")
        site = cfg.section("system.applicationHost/sites").collection().find(name=SITE)
        assert site is not None
        site.child("traceFailedRequestsLogging").set("enabled", True)
        rule = cfg.section(WS + "tracing/traceFailedRequests", SITE).collection().add(path="*")
        rule.child("failureDefinitions").set("statusCodes", "500-599")
        rule.child("failureDefinitions").set("verbosity", "Verbose")
        boom = cfg.section(WS + "rewrite/rules", SITE).collection().add(name="boom")
        boom.child("match").set("url", "^boom$")
        boom.child("action").set("type", "CustomResponse")
        boom.child("action").set("statusCode", 500)

    await change(hosted, trace)
    async with session() as client:
        async with client.get(hosted.url + "/small.txt") as resp:
            assert resp.status == 200
        async with client.get(hosted.url + "/boom", headers={"Authorization": "Basic c2VjcmV0OnNlY3JldA=="}) as resp:
            assert resp.status == 500
    folder = hosted.store.path.parent / "logs" / "FailedReqLogFiles" / "W3SVC1"
    [trace_file] = folder.glob("fr*.xml")
    assert trace_file.name == "fr000001.xml"
    root = ElementTree.parse(trace_file).getroot()  # noqa: S314 - a file the host under test just wrote
    assert root.tag == "failedRequest" and root.get("statusCode") == "500.0"
    assert root.get("failureReason") == "STATUS_CODE" and root.get("url", "").endswith("/boom")
    opcodes = [e.text for e in root.iter("{http://schemas.microsoft.com/win/2004/08/events/event}Opcode")]
    assert opcodes[0] == "GENERAL_REQUEST_START" and opcodes[-1] == "GENERAL_REQUEST_END"
    text = trace_file.read_text()
    assert "GENERAL_REQUEST_HEADERS" in text and "Basic [redacted]" in text and "c2VjcmV0" not in text


async def test_outbound_rule_rewrites_a_link_and_a_header(hosted: Hosted) -> None:
    def outbound(cfg: ConfigStore) -> None:
        enable(cfg, "RewriteModule")
        section = cfg.section(WS + "rewrite/outboundRules", SITE)
        pre = section.child("preConditions").collection().add(name="IsHTML")
        pre.collection().add(input="{RESPONSE_CONTENT_TYPE}", pattern="^text/html")
        link = section.collection().add(name="links", preCondition="IsHTML")
        link.child("match").set("filterByTags", "A")
        link.child("match").set("pattern", "^http://old\\.example/(.*)")
        link.child("action").set("type", "Rewrite")
        link.child("action").set("value", "https://new.example/{R:1}")
        header = section.collection().add(name="server")
        header.child("match").set("serverVariable", "RESPONSE_X_Powered_By")
        header.child("match").set("pattern", ".+")
        header.child("action").set("type", "Rewrite")
        header.child("action").set("value", "IIS Fleet")

    await change(hosted, outbound)
    async with session() as client:
        async with client.get(hosted.url + "/page.html") as resp:
            body = await resp.text()
            assert resp.status == 200 and resp.headers["X-Powered-By"] == "IIS Fleet"
        assert '<a href="https://new.example/x">' in body
        assert '<img src="http://old.example/i.png">' in body  # Img is not in filterByTags
        async with client.get(hosted.url + "/small.txt") as resp:
            assert await resp.text() == "s" * 100  # the precondition keeps plain text out


async def test_dynamic_compression_of_a_directory_listing(hosted: Hosted) -> None:
    def dynamic(cfg: ConfigStore) -> None:
        enable(cfg, "DynamicCompressionModule")
        cfg.section(WS + "directoryBrowse", SITE).set("enabled", True)

    await change(hosted, dynamic)
    async with session(auto_decompress=False) as client:
        async with client.get(hosted.url + "/sub/", headers={"Accept-Encoding": "gzip"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
            assert "notes.txt" in gzip.decompress(await resp.read()).decode()
        async with client.get(hosted.url + "/sub/", headers={"Accept-Encoding": "identity"}) as resp:
            assert "Content-Encoding" not in resp.headers and "notes.txt" in await resp.text()
            assert resp.headers["Vary"] == "Accept-Encoding"
