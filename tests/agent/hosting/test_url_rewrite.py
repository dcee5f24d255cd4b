"""RewriteModule on a stock tree: redirect, rewrite, conditions, custom response, stopProcessing, back-references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.file_response import FileResponse
from agent.hosting.embedded.worker.request import make_request
from agent.hosting.embedded.worker.response import StreamResponse
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit, make_store

SITE = "Default Web Site"
RULES = "system.webServer/rewrite/rules"


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    """A stock tree (with RewriteModule enabled) serving new.html and sub/."""
    content = tmp_path / "www"
    (content / "sub").mkdir(parents=True)
    (content / "new.html").write_text("new page")
    cfg = make_store(tmp_path, 18091, content)

    def enable(c: ConfigStore) -> None:
        c.section("system.webServer/globalModules").collection().add(name="RewriteModule", image="rewrite.dll")
        c.section("system.webServer/modules").collection().add(name="RewriteModule")

    edit(cfg, enable)
    return cfg


def add_rule(store: ConfigStore, name: str, pattern: str, action: dict[str, Any], *, syntax: str = "ECMAScript",
             conditions: tuple[dict[str, str], ...] = (), stop: bool = False, any_: bool = False) -> None:
    """Append an inbound rule at Default Web Site."""

    def change(cfg: ConfigStore) -> None:
        rule = cfg.section(RULES, SITE).collection().add(name=name, patternSyntax=syntax, stopProcessing=stop)
        rule.child("match").set("url", pattern)
        if any_:
            rule.child("conditions").set("logicalGrouping", "MatchAny")
        for cond in conditions:
            rule.collection("conditions").add(cond)
        for key, value in action.items():
            rule.child("action").set(key, value)

    edit(store, change)


async def call(store: ConfigStore, path: str) -> StreamResponse:
    request = make_request("GET", path, headers={"Host": "example", "X-IISFleet-Site": SITE})
    return await WorkerApp(store).handle(request)


@pytest.mark.parametrize(("kind", "status"), [("Permanent", 301), ("Found", 302), ("SeeOther", 303),
                                              ("Temporary", 307)])  # fmt: skip
async def test_redirect_with_back_reference_and_query(store: ConfigStore, kind: str, status: int) -> None:
    add_rule(store, "r", r"^old/(\w+)$", {"type": "Redirect", "url": "/new/{R:1}", "redirectType": kind})
    response = await call(store, "/old/page?x=1")
    assert response.status == status and response.headers["Location"] == "/new/page?x=1"


async def test_rewrite_serves_another_file(store: ConfigStore) -> None:
    add_rule(store, "rw", "^pretty$", {"type": "Rewrite", "url": "new.html"})
    response = await call(store, "/pretty")
    assert isinstance(response, FileResponse)
    assert (await call(store, "/other")).status == 404


async def test_wildcard_and_conditions(store: ConfigStore) -> None:
    add_rule(store, "w", "docs/*", {"type": "Redirect", "url": "/d/{R:1}", "redirectType": "Found"},
             syntax="Wildcard", conditions=({"input": "{HTTP_HOST}", "pattern": "exam*"},))  # rule syntax
    response = await call(store, "/docs/a")
    assert response.status == 302 and response.headers["Location"] == "/d/a"
    add_rule(store, "f", ".*", {"type": "CustomResponse", "statusCode": 410, "statusReason": "Gone"},
             conditions=({"input": "{REQUEST_FILENAME}", "matchType": "IsFile", "negate": "true"},))
    assert (await call(store, "/new.html")).status != 410  # the file exists: the negated condition fails
    assert (await call(store, "/nothing")).status == 410


async def test_stop_processing_and_none(store: ConfigStore) -> None:
    add_rule(store, "first", "^a$", {"type": "None"}, stop=True)
    add_rule(store, "second", "^a$", {"type": "CustomResponse", "statusCode": 418})
    assert (await call(store, "/a")).status == 404
    add_rule(store, "third", "^b$", {"type": "AbortRequest"})
    assert (await call(store, "/b")).status == 400
