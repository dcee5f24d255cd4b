"""HAL links and Location headers of agent answers rewritten under the gateway prefix."""

from __future__ import annotations

from multidict import CIMultiDict

from controller.api.gateway_rewrite import Rewriter, gateway_prefix, is_json

PREFIX = gateway_prefix("abc123")
REWRITER = Rewriter(PREFIX, "https://127.0.0.2:55539")


def test_hrefs_move_under_the_prefix() -> None:
    assert REWRITER.href("/api/webserver") == f"{PREFIX}/api/webserver"
    assert REWRITER.href("https://127.0.0.2:55539/api/files?x=1") == f"{PREFIX}/api/files?x=1"
    assert REWRITER.href(f"{PREFIX}/api/x") == f"{PREFIX}/api/x"  # already there
    assert REWRITER.href("https://elsewhere.example/docs") == "https://elsewhere.example/docs"
    assert REWRITER.href("//elsewhere.example/x") == "//elsewhere.example/x"
    assert REWRITER.href("relative/path") == "relative/path"


def test_every_links_table_at_any_depth() -> None:
    body = {
        "name": "/api/not-a-link",
        "_links": {"self": {"href": "/api/webserver/websites/1"}, "list": [{"href": "/api/a"}, {"href": "/api/b"}]},
        "websites": [{"id": "1", "_links": {"self": {"href": "/api/webserver/websites/1", "title": "x"}}}],
        "nested": {"deeper": {"_links": {"files": {"href": "/api/files/2"}}}},
    }
    out = REWRITER.links(body)
    assert out["name"] == "/api/not-a-link"  # only hrefs in _links change
    assert out["_links"]["self"]["href"] == f"{PREFIX}/api/webserver/websites/1"
    assert [link["href"] for link in out["_links"]["list"]] == [f"{PREFIX}/api/a", f"{PREFIX}/api/b"]
    assert out["websites"][0]["_links"]["self"] == {"href": f"{PREFIX}/api/webserver/websites/1", "title": "x"}
    assert out["nested"]["deeper"]["_links"]["files"]["href"] == f"{PREFIX}/api/files/2"


def test_location_headers_and_content_types() -> None:
    headers = REWRITER.headers(CIMultiDict({"Location": "/api/webserver/websites/9", "X-Other": "/api/x"}))
    assert headers["Location"] == f"{PREFIX}/api/webserver/websites/9" and headers["X-Other"] == "/api/x"
    assert is_json("application/hal+json; charset=utf-8", "")
    assert is_json("application/vnd.Microsoft.WebServer.WebSites+json", "identity")
    assert is_json("application/json", "")
    assert not is_json("application/json", "gzip")
    assert not is_json("text/html", "") and not is_json("application/octet-stream", "")
