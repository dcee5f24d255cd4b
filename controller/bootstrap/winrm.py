"""WinRM transport (pywinrm): upload over the command's stdin, run deploy/windows/install-agent.ps1 with PowerShell.

pywinrm is synchronous, so each call runs in a thread. Files are streamed as base64 lines into a small
PowerShell receiver (one WinRM message per line, well under the default 500 KB envelope), which answers the
sha256 of what it wrote; a mismatch fails the upload. The HTTPS listener's certificate is always verified
(`winrm_ca_file` adds a CA). NOT run against a real Windows host yet: tests replay recorded exchanges.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from typing import Any

from controller.bootstrap.errors import BootstrapError
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.plan import AgentPlan
from controller.bootstrap.remote import CommandResult
from controller.bootstrap.windows_script import INSTALL_AGENT_PS1

CHUNK = 192 * 1024
"""Raw bytes per stdin message (256 KB of base64)."""
POWERSHELL = "powershell.exe"
PS_FLAGS = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass"]

_RECEIVER = (
    "$ErrorActionPreference='Stop';$p='{path}';"
    "New-Item -ItemType Directory -Force -Path (Split-Path -Parent $p)|Out-Null;"
    "$f=[IO.File]::Create($p);"
    "try{{while(($l=[Console]::In.ReadLine()) -ne $null){{if($l){{$b=[Convert]::FromBase64String($l);"
    "$f.Write($b,0,$b.Length)}}}}}}finally{{$f.Close()}};"
    "(Get-FileHash -Algorithm SHA256 -LiteralPath $p).Hash.ToLower()"
)

ProtocolFactory = Callable[..., Any]


def encoded_command(script: str) -> str:
    """PowerShell's -EncodedCommand form of a script (UTF-16LE, base64)."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def receiver_script(path: str) -> str:
    """The PowerShell that writes stdin's base64 lines to `path` and prints the file's sha256."""
    return _RECEIVER.format(path=path.replace("'", "''"))


def install_arguments(plan: AgentPlan, script_path: str) -> list[str]:
    """powershell.exe arguments that run the uploaded install script for this plan."""
    params = {
        "Controller": plan.controller_url,
        "JoinToken": plan.join_token,
        "Address": plan.address,
        "Name": plan.name,
        "Port": str(plan.port),
        "InstallDir": plan.install_dir,
        "Wheel": plan.wheel_path or "",
        "Python": plan.python or "",
        "BasePython": plan.base_python,
        "Service": plan.service,
    }
    # pywinrm joins arguments with spaces; every value was checked to hold no quote (models.py).
    args = [*PS_FLAGS, "-File", f'"{script_path}"']
    for key, value in params.items():
        if value:
            args += [f"-{key}", f'"{value}"']
    return args


def endpoint(request: BootstrapRequest) -> str:
    """The WS-Management URL."""
    host = request.host if ":" not in request.host or request.host.startswith("[") else f"[{request.host}]"
    return f"{request.winrm_scheme}://{host}:{request.target_port}/wsman"


def open_protocol(request: BootstrapRequest, factory: ProtocolFactory | None = None) -> Any:
    """A pywinrm Protocol for the request; certificates are always validated."""
    if factory is None:
        from winrm.protocol import Protocol

        factory = Protocol
    return factory(
        endpoint(request),
        transport=request.winrm_auth,
        username=request.username,
        password=request.password.get_secret_value() if request.password else None,
        server_cert_validation="validate",
        ca_trust_path=request.winrm_ca_file or "legacy_requests",
        message_encryption="auto",
        read_timeout_sec=max(30, int(request.connect_timeout) + 10),
        operation_timeout_sec=max(20, int(request.connect_timeout)),
    )


class WinrmRemote:
    """One WinRM shell on a Windows target."""

    def __init__(self, protocol: Any, shell_id: str, address: str | None = None) -> None:
        self._protocol = protocol
        self._shell = shell_id
        self._address = address

    @classmethod
    async def connect(cls, request: BootstrapRequest, factory: ProtocolFactory | None = None) -> WinrmRemote:
        """Open a shell (this authenticates and verifies the listener's certificate)."""
        protocol = open_protocol(request, factory)
        try:
            shell_id = await asyncio.to_thread(protocol.open_shell)
        except Exception as err:  # noqa: BLE001 - pywinrm raises requests, spnego and its own errors alike
            detail = f"{type(err).__name__}: {err}"
            raise BootstrapError(f"cannot open a WinRM shell on {endpoint(request)}: {detail}") from None
        return cls(protocol, str(shell_id))

    @property
    def host_key_fingerprint(self) -> str | None:
        """WinRM has no SSH host key (HTTPS verifies the listener)."""
        return None

    @property
    def local_address(self) -> str | None:
        """Unknown for WinRM: the request's controller_url or the controller's address is used."""
        return self._address

    def _command(self, args: list[str], stdin: list[bytes] | None = None) -> CommandResult:
        command_id = self._protocol.run_command(self._shell, POWERSHELL, args)
        try:
            for index, chunk in enumerate(stdin or []):
                self._protocol.send_command_input(self._shell, command_id, chunk, end=index == len(stdin or []) - 1)
            stdout, stderr, code = self._protocol.get_command_output(self._shell, command_id)
        finally:
            self._protocol.cleanup_command(self._shell, command_id)
        return CommandResult(int(code), (stdout + stderr).decode("utf-8", errors="replace"))

    async def _run(self, args: list[str], stdin: list[bytes] | None = None) -> CommandResult:
        try:
            return await asyncio.to_thread(self._command, args, stdin)
        except Exception as err:  # noqa: BLE001 - see connect
            raise BootstrapError(f"the WinRM command failed: {type(err).__name__}: {err}") from None

    async def put(self, path: str, data: bytes) -> None:
        """Stream a file through the receiver script and check its sha256."""
        lines = [base64.b64encode(data[i : i + CHUNK]) + b"\r\n" for i in range(0, len(data), CHUNK)] or [b"\r\n"]
        args = [*PS_FLAGS, "-EncodedCommand", encoded_command(receiver_script(path))]
        result = await self._run(args, lines)
        expected = hashlib.sha256(data).hexdigest()
        if result.exit_status != 0 or result.output.strip().splitlines()[-1:] != [expected]:
            raise BootstrapError(f"uploading {path} failed (exit {result.exit_status}): {result.output.strip()[-500:]}")

    async def install(self, plan: AgentPlan) -> CommandResult:
        """Upload install-agent.ps1 and run it with the plan's parameters."""
        script_path = plan.path("install-agent.ps1")
        await self.put(script_path, INSTALL_AGENT_PS1.encode("utf-8-sig"))
        return await self._run(install_arguments(plan, script_path))

    async def log_tail(self, plan: AgentPlan) -> str:
        """The end of the agent's log (written under NSSM; a scheduled task has none)."""
        script = f"if (Test-Path '{plan.log_path}') {{ Get-Content -Tail 30 '{plan.log_path}' }}"
        return (await self._run([*PS_FLAGS, "-EncodedCommand", encoded_command(script)])).output

    async def close(self) -> None:
        """Close the shell."""
        try:
            await asyncio.to_thread(self._protocol.close_shell, self._shell)
        except Exception:  # noqa: BLE001 - the work is done; a failed close only leaks a remote shell
            return
