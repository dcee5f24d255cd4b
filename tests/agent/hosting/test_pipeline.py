"""Worker pipeline modules called directly on small fixture trees (no processes, no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded.worker import registry
from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.file_response import FileResponse
from agent.hosting.embedded.worker.pipeline import Pipeline
from agent.hosting.embedded.worker.request import make_request
from agent.hosting.embedded.worker.response import Response, StreamResponse
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit, make_store

SITE = "Default Web Site"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[ConfigStore, Path]:
    """A stock config over www/ with index.html, sub/notes.txt, data.unknownext."""
    content = tmp_path / "www"
    (content / "sub").mkdir(parents=True)
    (content / "index.html").write_text("<h1>home</h1>")
    (content / "sub" / "notes.txt").write_text("notes")
    (content / "data.unknownext").write_text("?")
    return make_store(tmp_path, 18081, content), content


async def call(store: ConfigStore, path: str, *, method: str = "GET", **headers: str) -> tuple[StreamResponse, Any]:
    request = make_request(method, path, headers={"Host": "example", "X-IISFleet-Site": SITE, **headers})
    response = await WorkerApp(store).handle(request)
    return response, response.headers.get("X-IISFleet-Substatus")


def status(response: StreamResponse) -> int:
    return 200 if isinstance(response, FileResponse) else response.status


async def test_default_document_then_static_file(tree: tuple[ConfigStore, Path]) -> None:
    store, content = tree
    response, _ = await call(store, "/")
    assert isinstance(response, FileResponse) and response.headers["Content-Type"] == "text/html"
    response, _ = await call(store, "/sub/notes.txt")
    assert isinstance(response, FileResponse) and response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/sub/", (403, "14")),
        ("/sub", (301, "0")),
        ("/missing.html", (404, "0")),
        ("/data.unknownext", (404, "3")),
        ("/web.config", (404, "7")),
        ("/bin/a.html", (404, "8")),
        ("/a%2541.html", (404, "11")),
        ("/a+b.html", (404, "11")),
        ("/" + "a" * 5000, (404, "14")),
        ("/?" + "q" * 3000, (404, "15")),
    ],
)
async def test_iis_substatus_codes(tree: tuple[ConfigStore, Path], path: str, expected: tuple[int, str]) -> None:
    response, substatus = await call(tree[0], path)
    assert (status(response), substatus) == expected


async def test_content_length_over_limit_is_413_1(tree: tuple[ConfigStore, Path]) -> None:
    response, substatus = await call(tree[0], "/", method="POST", **{"Content-Length": "40000000"})
    assert (response.status, substatus) == (413, "1")


async def test_directory_listing_follows_its_setting(tree: tuple[ConfigStore, Path]) -> None:
    store, _ = tree
    edit(store, lambda c: c.section("system.webServer/directoryBrowse", SITE).set("enabled", True))
    response, _ = await call(store, "/sub/")
    assert isinstance(response, Response) and response.status == 200
    assert response.text is not None and "notes.txt</A>" in response.text and "[To Parent Directory]" in response.text


async def test_anonymous_disabled_is_401_2(tree: tuple[ConfigStore, Path]) -> None:
    store, _ = tree
    section = "system.webServer/security/authentication/anonymousAuthentication"
    edit(store, lambda c: c.section(section, SITE).set("enabled", False))
    response, substatus = await call(store, "/")
    assert (response.status, substatus) == (401, "2")


async def test_custom_headers_and_dont_log(tree: tuple[ConfigStore, Path]) -> None:
    store, _ = tree

    def change(cfg: ConfigStore) -> None:
        cfg.section("system.webServer/httpProtocol", SITE).collection("customHeaders").add(name="X-Test", value="1")
        cfg.section("system.webServer/httpLogging", SITE).set("dontLog", True)

    edit(store, change)
    response, _ = await call(store, "/missing.html")
    assert response.headers["X-Test"] == "1" and response.status == 404
    assert response.headers["X-IISFleet-Log"] == "0"


async def test_a_failing_module_answers_500_and_the_rest_still_runs() -> None:
    class Broken:
        def begin_request(self, ctx: HttpContext) -> None:
            raise RuntimeError("boom")

    class Logger:
        ran = False

        def log_request(self, ctx: HttpContext) -> None:
            Logger.ran = True

    ctx = HttpContext(make_request("GET", "/"), None, SITE, 1, None, "/", None, SITE)  # type: ignore[arg-type]
    response = await Pipeline([Broken(), Logger()]).run(ctx)
    assert response.status == 500 and Logger.ran


def test_every_registry_row_resolves_and_unknown_names_get_a_hint() -> None:
    for name in registry.MODULES:
        cls = registry.resolve(name)
        assert cls.__name__ == name
    with pytest.raises(registry.UnknownModule, match="StaticFileModule"):
        registry.resolve("StaticFileModul")
    assert registry.enabled_modules(["StaticFileModule", "UriCacheModule"]) == ["StaticFileModule"]
