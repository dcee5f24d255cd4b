"""The audit log: successful changes only, secrets masked, never a token."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.security.api_key_store import ApiKey
from agent.security.audit_log import AuditLog, mask
from tests.agent.security.conftest import Client, bearer
from tests.agent.security.test_api_keys import create_key


def audit_text(state_dir: Path) -> str:
    """Everything in the audit directory."""
    return "".join(p.read_text() for p in sorted((state_dir / "logs").glob("audit-*.txt")))


async def test_successful_post_is_audited(client: Client, admin: tuple[ApiKey, str], state_dir: Path) -> None:
    body = {"name": "x", "identity": {"password": "s3cret"}, "_links": {"self": {"href": "/x"}}}
    response = await client.post("/api/things", json=body, headers=bearer(admin[1]))
    assert response.status == 201
    assert (await response.json(content_type=None)) == body  # the handler still read the body
    text = audit_text(state_dir)
    assert f"API Key ID: {admin[0].id}\nMethod: POST\nPath: /api/things\nmodel: " in text
    assert '"password":"{HIDDEN}"' in text and '"_links":null' in text
    assert "s3cret" not in text
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert (state_dir / "logs" / f"audit-{today}.txt").exists()


async def test_failed_and_read_requests_are_not_audited(
    client: Client, admin: tuple[ApiKey, str], state_dir: Path
) -> None:
    await client.post("/api/things", json={"password": "nope"})  # 403
    await client.post("/api/things", data=b"{bad", headers={**bearer(admin[1]), "Content-Type": "application/json"})
    await client.get("/api/things", headers=bearer(admin[1]))
    assert audit_text(state_dir) == ""


async def test_token_never_in_audit(client: Client, admin: tuple[ApiKey, str], state_dir: Path) -> None:
    created = await (await create_key(client, admin[1], {"expires_on": ""})).json(content_type=None)
    renewed = await (await client.post("/api/access-token", headers=bearer(created["access_token"]))).json(
        content_type=None
    )
    await client.post("/security/api-keys", json={"expires_on": "", "access_token": admin[1]}, headers=bearer(admin[1]))
    text = audit_text(state_dir)
    assert "Path: /security/api-keys" in text and "Path: /api/access-token" in text
    for token in (admin[1], created["access_token"], renewed["value"]):
        assert token not in text


def test_mask_everywhere() -> None:
    body = {"a": [{"private_key_password": "p"}], "value": "tok", "access_token": "t"}
    assert mask(body) == {"a": [{"private_key_password": "{HIDDEN}"}], "value": "tok", "access_token": "{HIDDEN}"}
    assert mask(body, security_route=True)["value"] == "{HIDDEN}"


def test_rolling_keeps_max_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_files=2)
    for day in (1, 2, 3):
        log.write("entry", when=datetime(2024, 1, day, tzinfo=UTC))
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit-20240102.txt", "audit-20240103.txt"]
    assert (tmp_path / "audit-20240103.txt").read_text() == "2024-01-03T00:00:00Z\nentry\n\n"
