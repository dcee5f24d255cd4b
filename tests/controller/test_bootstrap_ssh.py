"""SSH transport against an in-process asyncssh server: host key pinning, known_hosts, accept-new, login, run."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from controller.bootstrap.errors import BootstrapError
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.ssh import SshRemote, known_hosts_pattern
from tests.controller.conftest import free_port


class _Server(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "deploy" and password == "s3cret"


async def _echo(process: asyncssh.SSHServerProcess[str]) -> None:
    data = await process.stdin.read() if process.command == "sh -s" else ""
    process.stdout.write(f"ran {process.command}: {len(data)} bytes\n")
    process.exit(0)


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, asyncssh.SSHKey]]:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    port = free_port()
    listener = await asyncssh.listen("127.0.0.1", port, server_host_keys=[host_key], server_factory=_Server,
                                     process_factory=_echo)
    yield port, host_key
    listener.close()
    await listener.wait_closed()


def _request(port: int, **extra: Any) -> BootstrapRequest:
    body = {"host": "127.0.0.1", "port": port, "username": "deploy", "password": "s3cret", "connect_timeout": 5}
    return BootstrapRequest.model_validate({**body, **extra})


async def test_unknown_key_is_refused_then_accepted_and_remembered(
    server: tuple[int, asyncssh.SSHKey], tmp_path: Path
) -> None:
    port, host_key = server
    known = tmp_path / "known_hosts"
    fingerprint = host_key.get_fingerprint("sha256")
    with pytest.raises(BootstrapError, match=re.escape(fingerprint) + ".*is unknown"):
        await SshRemote.connect(_request(port), known)
    remote = await SshRemote.connect(_request(port, accept_unknown_host_key=True), known)
    assert remote.host_key_fingerprint == fingerprint
    await remote.close()
    assert known.read_text().startswith(f"{known_hosts_pattern('127.0.0.1', port)} ssh-ed25519 ")
    # Now known: no flag needed.
    remote = await SshRemote.connect(_request(port), known)
    await remote.close()


async def test_changed_key_is_refused_even_with_accept_unknown(
    server: tuple[int, asyncssh.SSHKey], tmp_path: Path
) -> None:
    port, _ = server
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {other}")
    with pytest.raises(BootstrapError, match="changed"):
        await SshRemote.connect(_request(port, accept_unknown_host_key=True), known)


async def test_pinned_fingerprint(server: tuple[int, asyncssh.SSHKey], tmp_path: Path) -> None:
    port, host_key = server
    wrong = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")
    with pytest.raises(BootstrapError, match="not the pinned"):
        await SshRemote.connect(_request(port, host_key_fingerprint=wrong), tmp_path / "kh")
    pinned = _request(port, host_key_fingerprint=host_key.get_fingerprint("sha256"))
    remote = await SshRemote.connect(pinned, tmp_path / "kh")
    assert remote.local_address == "127.0.0.1"
    result = await remote._run("sh -s", "echo hi\n", 10)
    assert result == type(result)(0, "ran sh -s: 8 bytes\n")
    await remote.close()
    assert not (tmp_path / "kh").exists()  # a pin is not written anywhere


async def test_known_hosts_in_request_and_bad_password(server: tuple[int, asyncssh.SSHKey], tmp_path: Path) -> None:
    port, host_key = server
    line = f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}"
    with pytest.raises(BootstrapError, match="refused") as refused:
        await SshRemote.connect(_request(port, known_hosts=line, password="wrong"), tmp_path / "kh")
    assert "wrong" not in str(refused.value)
    remote = await SshRemote.connect(_request(port, known_hosts=line), tmp_path / "kh")
    await remote.close()
