"""WinRM transport against a recorded fake of pywinrm's Protocol (no Windows host here): exact scripts, uploads."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from controller.bootstrap.errors import BootstrapError
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.plan import make_plan
from controller.bootstrap.windows_script import INSTALL_AGENT_PS1
from controller.bootstrap.winrm import PS_FLAGS, WinrmRemote, encoded_command, receiver_script

REPO = Path(__file__).resolve().parents[2]
TOKEN = "0123456789ab." + "s" * 43 + "." + "f" * 64


def _decode(encoded: str) -> str:
    return base64.b64decode(encoded).decode("utf-16-le")


class FakeProtocol:
    """Records every call; answers uploads with the sha256 of the bytes received, commands from `outputs`."""

    def __init__(self, endpoint: str, **options: Any) -> None:
        self.endpoint, self.options = endpoint, options
        self.commands: list[tuple[str, list[str]]] = []
        self.stdin: dict[str, list[tuple[bytes, bool]]] = {}
        self.outputs: list[tuple[bytes, bytes, int]] = []
        self.cleaned: list[str] = []
        self.closed = False
        FakeProtocol.last = self

    last: FakeProtocol

    def open_shell(self) -> str:
        return "shell-1"

    def run_command(self, shell_id: str, command: str, arguments: list[str]) -> str:
        assert shell_id == "shell-1"
        self.commands.append((command, list(arguments)))
        return f"cmd-{len(self.commands)}"

    def send_command_input(self, shell_id: str, command_id: str, data: bytes, end: bool = False) -> None:
        self.stdin.setdefault(command_id, []).append((data, end))

    def get_command_output(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int]:
        if command_id in self.stdin:
            assert self.stdin[command_id][-1][1] is True, "stdin must be closed on the last chunk"
            data = b"".join(base64.b64decode(chunk.strip()) for chunk, _ in self.stdin[command_id] if chunk.strip())
            return hashlib.sha256(data).hexdigest().encode() + b"\r\n", b"", 0
        return self.outputs.pop(0)

    def cleanup_command(self, shell_id: str, command_id: str) -> None:
        self.cleaned.append(command_id)

    def close_shell(self, shell_id: str) -> None:
        self.closed = True

    def uploaded(self, command_id: str) -> bytes:
        return b"".join(base64.b64decode(chunk.strip()) for chunk, _ in self.stdin[command_id] if chunk.strip())


def _request(**extra: Any) -> BootstrapRequest:
    body = {"transport": "winrm", "host": "win1.example.com", "username": "EXAMPLE\\admin", "password": "pw",
            "name": "win1", "address": "10.0.0.7", **extra}
    return BootstrapRequest.model_validate(body)


def test_deploy_script_is_the_uploaded_script() -> None:
    assert (REPO / "deploy" / "windows" / "install-agent.ps1").read_text(encoding="utf-8") == INSTALL_AGENT_PS1


async def test_connection_options_validate_certificates() -> None:
    remote = await WinrmRemote.connect(_request(winrm_ca_file="/etc/ssl/corp-ca.pem"), FakeProtocol)
    fake = FakeProtocol.last
    assert fake.endpoint == "https://win1.example.com:5986/wsman"
    assert fake.options["transport"] == "ntlm" and fake.options["server_cert_validation"] == "validate"
    assert fake.options["ca_trust_path"] == "/etc/ssl/corp-ca.pem" and fake.options["password"] == "pw"
    await remote.close()
    assert fake.closed


async def test_install_uploads_wheel_and_script_then_runs_it() -> None:
    request = _request()
    remote = await WinrmRemote.connect(request, FakeProtocol)
    fake = FakeProtocol.last
    plan = make_plan(request, controller_url="https://ctl.example.com:55540", join_token=TOKEN,
                     wheel_name="iisfleet-0.1.0-py3-none-any.whl")
    wheel = bytes(range(256)) * 2000  # 512 KB: three stdin chunks
    assert plan.wheel_path is not None
    await remote.put(plan.wheel_path, wheel)
    fake.outputs.append((b"installing ...\r\nstarted scheduled task iisfleet-agent-win1\r\n", b"", 0))
    result = await remote.install(plan)
    assert result.exit_status == 0 and "started scheduled task" in result.output

    (cmd1, args1), (cmd2, args2), (cmd3, args3) = fake.commands
    assert cmd1 == cmd2 == cmd3 == "powershell.exe"
    assert args1 == [*PS_FLAGS, "-EncodedCommand", encoded_command(receiver_script(plan.wheel_path))]
    assert _decode(args1[-1]).startswith("$ErrorActionPreference='Stop';$p='C:\\ProgramData\\IisFleet\\agent\\iisfleet")
    assert fake.uploaded("cmd-1") == wheel and len(fake.stdin["cmd-1"]) == 3
    assert _decode(args2[-1]) == receiver_script("C:\\ProgramData\\IisFleet\\agent\\install-agent.ps1")
    assert fake.uploaded("cmd-2").decode("utf-8-sig") == INSTALL_AGENT_PS1
    assert args3 == [
        *PS_FLAGS, "-File", '"C:\\ProgramData\\IisFleet\\agent\\install-agent.ps1"',
        "-Controller", '"https://ctl.example.com:55540"', "-JoinToken", f'"{TOKEN}"', "-Address", '"10.0.0.7"',
        "-Name", '"win1"', "-Port", '"55539"', "-InstallDir", '"C:\\ProgramData\\IisFleet\\agent"',
        "-Wheel", '"C:\\ProgramData\\IisFleet\\agent\\iisfleet-0.1.0-py3-none-any.whl"',
        "-BasePython", '"py"', "-Service", '"auto"',
    ]
    assert fake.cleaned == ["cmd-1", "cmd-2", "cmd-3"]


async def test_upload_with_a_wrong_hash_fails() -> None:
    remote = await WinrmRemote.connect(_request(), FakeProtocol)
    fake = FakeProtocol.last
    fake.get_command_output = lambda shell_id, command_id: (b"0" * 64, b"", 0)  # type: ignore[method-assign]
    with pytest.raises(BootstrapError, match="uploading"):
        await remote.put("C:\\x\\f.bin", b"data")


async def test_unreachable_host_is_a_bootstrap_error() -> None:
    class Refusing(FakeProtocol):
        def open_shell(self) -> str:
            raise ConnectionRefusedError("connection refused")

    with pytest.raises(BootstrapError, match="cannot open a WinRM shell.*refused"):
        await WinrmRemote.connect(_request(), Refusing)
