"""Request filtering rules with IIS's substatus codes: the worker module directly, then end to end in the W3C log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.errors import error_html
from agent.hosting.embedded.worker.file_response import FileResponse
from agent.hosting.embedded.worker.request import make_request
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit, make_store, raw_request
from tests.e2e.test_embedded_host import run_host

SITE = "Default Web Site"
SECTION = "system.webServer/security/requestFiltering"


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    """A stock config over www/ with index.html and a.txt."""
    content = tmp_path / "www"
    content.mkdir()
    (content / "index.html").write_text("<h1>home</h1>")
    (content / "a.txt").write_text("a")
    return make_store(tmp_path, 18082, content)


def filtering(store: ConfigStore, change: Any) -> None:
    """Change the site's requestFiltering section."""
    edit(store, lambda cfg: change(cfg.section(SECTION, SITE)))


async def call(store: ConfigStore, path: str, *, method: str = "GET", payload: bytes = b"",
               **headers: str) -> tuple[int, str]:  # fmt: skip
    request = make_request(method, path, {"Host": "example", "X-IISFleet-Site": SITE, **headers}, payload)
    response = await WorkerApp(store).handle(request)
    code = 200 if isinstance(response, FileResponse) else response.status
    return code, response.headers["X-IISFleet-Substatus"]


async def test_denied_and_unlisted_verbs_are_404_6(store: ConfigStore) -> None:
    assert await call(store, "/a.txt", method="OPTIONS") != (404, "6")
    filtering(store, lambda s: s.child("verbs").collection().add(verb="OPTIONS", allowed=False))
    assert await call(store, "/a.txt", method="OPTIONS") == (404, "6")
    assert await call(store, "/a.txt") == (200, "0")

    def only_get(section: Any) -> None:
        verbs = section.child("verbs")
        verbs.set("allowUnlisted", False)
        verbs.collection().add(verb="GET", allowed=True)

    filtering(store, only_get)
    assert await call(store, "/a.txt") == (200, "0")
    assert await call(store, "/a.txt", method="HEAD") == (404, "6")


async def test_denied_url_sequence_is_404_5(store: ConfigStore) -> None:
    filtering(store, lambda s: s.collection("denyUrlSequences").add(sequence="secret"))
    assert await call(store, "/a.txt") == (200, "0")
    assert await call(store, "/SeCrEt/a.txt") == (404, "5")
    assert await call(store, "/x%73ecret.txt") == (404, "5")  # matched after unescaping


async def test_high_bit_characters_are_404_12_when_disallowed(store: ConfigStore) -> None:
    assert (await call(store, "/caf%C3%A9.txt"))[1] != "12"
    filtering(store, lambda s: s.set("allowHighBitCharacters", False))
    assert await call(store, "/caf%C3%A9.txt") == (404, "12")
    assert await call(store, "/a.txt") == (200, "0")


async def test_header_over_its_limit_is_404_10(store: ConfigStore) -> None:
    filtering(store, lambda s: s.child("requestLimits").collection("headerLimits")
              .add(header="User-Agent:", sizeLimit=10))  # fmt: skip
    assert await call(store, "/a.txt", **{"User-Agent": "short"}) == (200, "0")
    assert await call(store, "/a.txt", **{"User-Agent": "much too long agent"}) == (404, "10")


async def test_query_string_sequence_is_404_18(store: ConfigStore) -> None:
    filtering(store, lambda s: s.collection("denyQueryStringSequences").add(sequence="<script"))
    assert await call(store, "/a.txt?q=ok") == (200, "0")
    assert await call(store, "/a.txt?q=%3Cscript%3E") == (404, "18")


async def test_always_allowed_urls_and_query_strings_skip_their_checks(store: ConfigStore) -> None:
    def change(section: Any) -> None:
        section.collection("denyUrlSequences").add(sequence="a.txt")
        section.collection("alwaysAllowedUrls").add(url="/a.txt")
        section.child("requestLimits").set("maxQueryString", 4)
        section.collection("alwaysAllowedQueryStrings").add(queryString="long=query")

    filtering(store, change)
    assert await call(store, "/a.txt") == (200, "0")
    assert await call(store, "/sub/a.txt") == (404, "5")
    assert await call(store, "/a.txt?long=query") == (200, "0")
    assert await call(store, "/a.txt?other=query") == (404, "15")


async def test_filtering_rule_is_404_19(store: ConfigStore) -> None:
    def change(section: Any) -> None:
        rule = section.collection("filteringRules").add(name="no sql", scanUrl=True, scanQueryString=True)
        rule.collection("scanHeaders").add(requestHeader="User-Agent")
        rule.collection("appliesTo").add(fileExtension=".txt")
        rule.collection("denyStrings").add(string="DROP TABLE")

    filtering(store, change)
    assert await call(store, "/a.txt?q=select") == (200, "0")
    assert await call(store, "/a.txt?q=drop%20table") == (404, "19")
    assert await call(store, "/a.txt", **{"User-Agent": "x drop table y"}) == (404, "19")
    assert (await call(store, "/index.html?q=drop%20table"))[1] != "19"  # not an extension the rule applies to


def chunked_body(size: int) -> bytes:
    return b"x" * size  # make_request frames it in 1000-byte chunks (Transfer-Encoding: chunked)


async def test_chunked_body_is_counted_against_max_allowed_content_length(store: ConfigStore) -> None:
    filtering(store, lambda s: s.child("requestLimits").set("maxAllowedContentLength", 5000))
    chunked = {"Transfer-Encoding": "chunked"}
    assert (await call(store, "/a.txt", method="POST", payload=chunked_body(5000), **chunked))[1] != "1"
    assert await call(store, "/a.txt", method="POST", payload=chunked_body(6000), **chunked) == (413, "1")


def test_every_new_substatus_has_its_iis_message() -> None:
    assert "HTTP verb" in error_html(404, 6)
    assert "URL sequence" in error_html(404, 5)
    assert "high-bit" in error_html(404, 12)
    assert "header is too long" in error_html(404, 10)


@pytest.mark.e2e
@pytest.mark.timeout(60)
async def test_substatus_reaches_the_w3c_log(tmp_path: Path) -> None:
    async with run_host(tmp_path, {"index.html": "hi", "a.txt": "a"}) as hosted:

        def change(section: Any) -> None:
            section.child("verbs").collection().add(verb="DELETE", allowed=False)
            section.collection("denyUrlSequences").add(sequence="..%2f")
            section.collection("denyUrlSequences").add(sequence="evil")
            section.child("requestLimits").set("maxAllowedContentLength", 100)

        edit(hosted.store, lambda cfg: change(cfg.section(SECTION, SITE)))
        await hosted.host.tick()
        requests = [
            b"DELETE /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /evil/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + b"64\r\n"
            + b"y" * 100
            + b"\r\n64\r\n"
            + b"y" * 100
            + b"\r\n0\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        answers = [await raw_request(hosted.address, hosted.port, data) for data in requests]
        assert [a.split(b"\r\n", 1)[0] for a in answers] == [
            b"HTTP/1.1 404 Not Found", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 413 Request Entity Too Large",
            b"HTTP/1.1 200 OK",
        ]  # fmt: skip
        hosted.host.flush_logs()
        [log_file] = (hosted.store.path.parent / "logs" / "LogFiles" / "W3SVC1").glob("u_ex*.log")
        lines = log_file.read_text().splitlines()
        fields = lines[3].removeprefix("#Fields: ").split()
        rows = [dict(zip(fields, line.split(), strict=True)) for line in lines[4:]]
        assert [(r["sc-status"], r["sc-substatus"]) for r in rows] == [
            ("404", "6"), ("404", "5"), ("413", "1"), ("200", "0"),
        ]  # fmt: skip
