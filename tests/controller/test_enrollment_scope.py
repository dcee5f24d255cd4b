"""The key an agent hands its controller at enrollment is controller-scoped, and its secrets are 0600."""

from __future__ import annotations

from pathlib import Path

from agent.enrollment import ensure_enrolled, gather_facts
from agent.security.keystore import ApiKeyStore
from tests.controller.conftest import ControllerUnderTest


async def test_enrollment_key_is_controller_scoped(controller: ControllerUnderTest, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    enrollment = await ensure_enrolled(
        state, controller.url, await controller.join_token(), name="a", url="https://127.0.0.2:9", facts=gather_facts()
    )
    keys = ApiKeyStore(state / "api-keys.json").list()
    assert [(key.purpose, key.scope) for key in keys] == [(f"iisfleet controller {controller.url}", "controller")]
    for secret in (state / "api-keys.json", enrollment.identity_file):
        assert secret.stat().st_mode & 0o777 == 0o600, secret
