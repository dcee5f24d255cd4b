"""SSH transport (asyncssh): verified host key, key or password login, SFTP upload, the sh install script.

Host keys: a pinned `SHA256:` fingerprint wins; otherwise the key must be in the request's known_hosts lines
or the controller's `<state dir>/bootstrap/known_hosts`. An unknown host is refused unless the request says
`accept_unknown_host_key`, in which case its key is remembered (like OpenSSH's `accept-new`). A host whose key
differs from a known one is always refused.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

with warnings.catch_warnings():
    # cryptography 51 deprecates DSA, and asyncssh touches its DSA classes on import. No DSA key is ever used
    # here, so the warning would only be noise on every operator command that loads this module.
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

from controller.bootstrap.errors import BootstrapError
from controller.bootstrap.models import BootstrapRequest
from controller.bootstrap.plan import INSTALL_TIMEOUT, AgentPlan, linux_log_tail, linux_script
from controller.bootstrap.remote import CommandResult

log = logging.getLogger("iisfleet.controller.bootstrap")


def _same_fingerprint(a: str, b: str) -> bool:
    return a.rstrip("=") == b.rstrip("=")


class HostKeyPolicy(asyncssh.SSHClient):
    """Decides on host keys that known_hosts does not already trust, and remembers why it refused one."""

    def __init__(self, known: asyncssh.SSHKnownHosts | None, pin: str | None, accept_unknown: bool) -> None:
        self._known = known
        self._pin = pin
        self._accept_unknown = accept_unknown
        self._host_is_known = False
        self.accepted: asyncssh.SSHKey | None = None
        self.refusal = ""

    def known_hosts(self, host: str, addr: str, port: int) -> Any:
        """asyncssh's known_hosts callable: the trusted keys for this host (none when a pin decides)."""
        if self._pin or self._known is None:
            return ((), (), ())
        result = self._known.match(host, addr, port)
        self._host_is_known = bool(result[0] or result[1] or result[3] or result[4])
        return result

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called for a key known_hosts did not trust."""
        seen = key.get_fingerprint("sha256")
        if self._pin:
            if _same_fingerprint(seen, self._pin):
                return True
            self.refusal = f"host key of {host} is {seen}, not the pinned {self._pin}; refusing to connect"
        elif self._host_is_known:
            self.refusal = (
                f"host key of {host} changed: it is now {seen}, which known_hosts does not list for this host "
                "(a reinstalled host, or someone in the middle); refusing to connect"
            )
        elif self._accept_unknown:
            self.accepted = key
            return True
        else:
            self.refusal = (
                f"host key of {host} ({seen}) is unknown; pin it with host_key_fingerprint, add it to known_hosts, "
                "or set accept_unknown_host_key"
            )
        return False


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def known_hosts_pattern(host: str, port: int) -> str:
    """The known_hosts host field OpenSSH writes for this host and port."""
    return host if port == 22 else f"[{host}]:{port}"


def _load_known(request: BootstrapRequest, known_hosts_file: Path) -> asyncssh.SSHKnownHosts | None:
    text = known_hosts_file.read_text(encoding="utf-8") if known_hosts_file.exists() else ""
    text += "\n" + (request.known_hosts or "")
    try:
        return asyncssh.import_known_hosts(text) if text.strip() else None
    except (ValueError, asyncssh.KeyImportError) as err:
        raise BootstrapError(f"known_hosts does not parse: {err}") from err


def _client_keys(request: BootstrapRequest) -> list[asyncssh.SSHKey] | None:
    if request.private_key is None:
        return None
    passphrase = request.private_key_passphrase.get_secret_value() if request.private_key_passphrase else None
    try:
        return [asyncssh.import_private_key(request.private_key.get_secret_value(), passphrase)]
    except (asyncssh.KeyImportError, ValueError) as err:
        # The library's message names the problem (format, passphrase) and never includes the key.
        raise BootstrapError(f"private_key cannot be read: {err}") from err


class SshRemote:
    """A verified, authenticated SSH connection to a Linux (POSIX) target."""

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, request: BootstrapRequest, known_hosts_file: Path) -> SshRemote:
        """Connect, verify the host key and log in; remember an accepted unknown key."""
        policy = HostKeyPolicy(
            _load_known(request, known_hosts_file), request.host_key_fingerprint, request.accept_unknown_host_key
        )
        host, port = request.host.strip("[]"), request.target_port
        try:
            conn = await asyncssh.connect(
                host,
                port,
                username=request.username,
                password=request.password.get_secret_value() if request.password else None,
                client_keys=_client_keys(request),
                known_hosts=policy.known_hosts,
                client_factory=lambda: policy,
                agent_path=None,  # never the controller's own ssh-agent keys
                config=None,  # nor its ~/.ssh/config
                connect_timeout=request.connect_timeout,
                login_timeout=request.connect_timeout,
            )
        except asyncssh.HostKeyNotVerifiable as err:
            raise BootstrapError(policy.refusal or f"host key not verifiable: {err.reason}") from None
        except asyncssh.PermissionDenied:
            raise BootstrapError(f"SSH login as {request.username!r} on {host}:{port} was refused") from None
        except (asyncssh.Error, OSError, TimeoutError) as err:
            raise BootstrapError(f"cannot connect to {host}:{port} over SSH: {err}") from None
        if policy.accepted is not None:
            line = f"{known_hosts_pattern(host, port)} {policy.accepted.export_public_key('openssh').decode().strip()}"
            known_hosts_file.parent.mkdir(parents=True, exist_ok=True)
            with known_hosts_file.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
            log.warning("accepted unknown host key %s of %s:%d and remembered it in %s",
                        policy.accepted.get_fingerprint("sha256"), host, port, known_hosts_file)
        return cls(conn)

    @property
    def host_key_fingerprint(self) -> str | None:
        """The verified host key."""
        key = self._conn.get_server_host_key()
        return key.get_fingerprint("sha256") if key is not None else None

    @property
    def local_address(self) -> str | None:
        """The controller's address on this connection."""
        sockname = self._conn.get_extra_info("sockname")
        return str(sockname[0]) if sockname else None

    async def put(self, path: str, data: bytes) -> None:
        """Upload a file over SFTP."""
        try:
            async with self._conn.start_sftp_client() as sftp:
                await sftp.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
                async with sftp.open(path, "wb") as remote_file:
                    await remote_file.write(data)
        except (asyncssh.Error, OSError) as err:
            raise BootstrapError(f"uploading {path} failed: {err}") from None

    async def _run(self, command: str, stdin: str | None, limit: float) -> CommandResult:
        try:
            done = await self._conn.run(command, input=stdin, check=False, timeout=limit)
        except asyncssh.TimeoutError:
            raise BootstrapError(f"the remote command did not finish within {limit:.0f} s") from None
        except (asyncssh.Error, OSError) as err:
            raise BootstrapError(f"running the remote command failed: {err}") from None
        output = _text(done.stdout) + _text(done.stderr)
        return CommandResult(done.exit_status if done.exit_status is not None else -1, output)

    async def install(self, plan: AgentPlan) -> CommandResult:
        """Run the install script through `sh -s` (parameters travel on stdin, not the command line)."""
        return await self._run("sh -s", linux_script(plan), INSTALL_TIMEOUT)

    async def log_tail(self, plan: AgentPlan) -> str:
        """The end of the agent's log."""
        return (await self._run(linux_log_tail(plan), None, 30.0)).output

    async def close(self) -> None:
        """Disconnect."""
        self._conn.close()
        await self._conn.wait_closed()
