"""When the worker's static-file module offers a file to the supervisor (worker/handoff.py), decided by WorkerApp
on a real configuration store; the sending itself is in tests/e2e/test_embedded_file_handoff.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.hosting.embedded import file_handoff
from agent.hosting.embedded.worker import handoff, pipeline, registry
from agent.hosting.embedded.worker.app import WorkerApp
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.modules.static_file import SMALL_FILE_BYTES, StaticFileResponse
from agent.hosting.embedded.worker.request import make_request
from agent.iisconfig import ConfigStore
from tests.agent.hosting.support import edit, make_store

SITE = "Default Web Site"
OFFERED = {file_handoff.HEADER: file_handoff.OFFER}


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    content = tmp_path / "www"
    content.mkdir()
    (content / "small.txt").write_text("small")
    (content / "big.txt").write_bytes(b"b" * (SMALL_FILE_BYTES + 1))
    return make_store(tmp_path, 18082, content)


async def handoff_of(store: ConfigStore, path: str, **headers: str) -> bool:
    request = make_request("GET", path, headers={"Host": "x", "X-IISFleet-Site": SITE, **headers})
    response = await WorkerApp(store).handle(request)
    assert isinstance(response, StaticFileResponse)
    assert file_handoff.HEADER not in response.headers  # set only while the file is sent
    return response.handoff


async def test_only_large_files_the_supervisor_offered_to_take(store: ConfigStore) -> None:
    assert await handoff_of(store, "/big.txt", **OFFERED)
    assert not await handoff_of(store, "/big.txt")
    assert not await handoff_of(store, "/small.txt", **OFFERED)


async def test_a_forged_answer_header_is_stripped(store: ConfigStore) -> None:
    protocol = "system.webServer/httpProtocol"
    edit(store, lambda c: c.section(protocol).collection("customHeaders").add(name=file_handoff.HEADER, value="0 1"))
    assert not await handoff_of(store, "/small.txt", **OFFERED)


async def test_a_body_transforming_module_keeps_the_worker_path(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module not known to leave bodies alone, enabled by the stock <modules> list (a stand-in registered under a
    # compression module's name, and taken out of the passthrough set).
    class Compressor:
        def send_response(self, ctx: HttpContext) -> None:
            pass

    monkeypatch.setitem(registry.MODULES, "StaticCompressionModule", "x:y")
    monkeypatch.setattr(handoff, "BODY_PASSTHROUGH", handoff.BODY_PASSTHROUGH - {"StaticCompressionModule"})
    monkeypatch.setattr(pipeline, "resolve", lambda name: Compressor if name == "StaticCompressionModule" else
                        registry.resolve(name))  # fmt: skip
    assert not await handoff_of(store, "/big.txt", **OFFERED)


async def test_forbid_in_a_later_stage(store: ConfigStore, monkeypatch: pytest.MonkeyPatch) -> None:
    class Rewriter:
        def send_response(self, ctx: HttpContext) -> None:
            handoff.forbid(ctx)

    # A stand-in under a name the stock <modules> list enables, declared to leave bodies alone.
    monkeypatch.setitem(registry.MODULES, "CustomErrorModule", "x:y")
    monkeypatch.setattr(handoff, "BODY_PASSTHROUGH", handoff.BODY_PASSTHROUGH | {"CustomErrorModule"})
    monkeypatch.setattr(pipeline, "resolve", lambda name: object if name == "CustomErrorModule" else
                        registry.resolve(name))  # fmt: skip
    assert await handoff_of(store, "/big.txt", **OFFERED)  # listed as passthrough and doing nothing: still offered

    # The same module now changes this body after the handler ran: it calls forbid.
    monkeypatch.setattr(pipeline, "resolve", lambda name: Rewriter if name == "CustomErrorModule" else
                        registry.resolve(name))  # fmt: skip
    assert not await handoff_of(store, "/big.txt", **OFFERED)
