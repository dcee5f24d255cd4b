"""Registry invariants: every route is in the OpenAPI document and in docs/controller-api.md; CLI commands work."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from controller.api.openapi import _PARAM, document
from controller.api.routes import ROUTES
from controller.services.credentials import authenticate_operator, parse_labels
from controller.services.errors import InvalidRequest
from controller.settings import SettingsError, parse_duration
from iisfleet.cli import main
from tests.controller.conftest import ControllerUnderTest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "controller-api.md"


def test_route_names_and_paths_are_unique() -> None:
    assert len({r.name for r in ROUTES}) == len(ROUTES)
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)


def test_every_route_is_documented() -> None:
    doc = document(ROUTES)
    text = DOCS.read_text(encoding="utf-8")
    for route in ROUTES:
        path = _PARAM.sub(r"{\1}", route.path)
        assert path in doc["paths"]
        method = "ANY" if route.method == "*" else route.method
        assert f"`{method} {path}`" in text, f"{route.method} {path} missing from {DOCS.name}"


async def test_openapi_needs_an_operator_token(controller: ControllerUnderTest) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{controller.url}/openapi.json", ssl=controller.client_ssl()) as r:
            assert r.status in (401, 403)
        headers = {"Authorization": f"Bearer {controller.token}"}
        async with http.get(f"{controller.url}/openapi.json", ssl=controller.client_ssl(), headers=headers) as r:
            body = await r.json()
    assert body["paths"]["/api/agents/{id}"]["delete"]["security"] == [{"bearer": []}]
    assert "/api/agents/{id}/iis/{path}" in body["paths"]


def test_labels_and_durations() -> None:
    assert parse_labels("env=prod, role=web") == {"env": "prod", "role": "web"}
    with pytest.raises(InvalidRequest):
        parse_labels("noequals")
    assert parse_duration("1h") == 3600 and parse_duration("30m") == 1800 and parse_duration("10") == 10
    with pytest.raises(SettingsError):
        parse_duration("soon")


async def test_cli_key_and_join_token(
    controller: ControllerUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTROLLER_REDIS_PREFIX", controller.settings.redis_prefix)
    state = ["--state-dir", str(controller.settings.state_dir), "--redis-url", str(controller.settings.redis_url)]
    import asyncio

    # The CLI runs its own event loop; run it in a thread so this test's loop stays free.
    rc = await asyncio.to_thread(main, ["controller", "key", "create", *state, "--purpose", "ci", "--role", "admin"])
    token = capsys.readouterr().out.strip()
    assert rc == 0 and "\n" not in token
    assert await authenticate_operator(controller.store, token) == token.split(".")[0]
    rc = await asyncio.to_thread(
        main, ["controller", "join-token", "create", *state, "--labels", "env=ci", "--ttl", "5m"]
    )
    join = capsys.readouterr().out.strip()
    assert rc == 0 and join.endswith(controller.ca.fingerprint)


def test_tls_verification_is_never_turned_off() -> None:
    """Only enrollment's pinned CA discovery reads a certificate before it can verify one."""
    root = Path(__file__).resolve().parents[2]
    files = [*root.glob("controller/**/*.py"), root / "agent/controller_link.py", root / "agent/enrollment.py"]
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if any(bad in line for bad in ("CERT_NONE", "ssl=False", "verify_ssl", "check_hostname = False")):
                offenders.append(f"{path.relative_to(root)}:{number}")
    # agent/enrollment.py discover_ca: no secret is sent, and the answer is accepted only if it matches the pin.
    assert all(o.startswith("agent/enrollment.py") for o in offenders), offenders
    assert len(offenders) == 2
