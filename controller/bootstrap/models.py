"""The bootstrap request (wire model) and its checks; credentials are SecretStr so no repr or log shows them."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Values end up in a shell script, a systemd unit or a PowerShell command line: allow only plain characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_HOST = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}$")
_POSIX_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\[A-Za-z0-9_. \\()+-]*$")
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_URL = re.compile(r"^https://[A-Za-z0-9_.:\[\]-]+(:\d{1,5})?/?$")

LINUX_DIR = "/opt/iisfleet-agent"
WINDOWS_DIR = "C:\\ProgramData\\IisFleet\\agent"


class BootstrapRequest(BaseModel):
    """POST /api/bootstrap: where to connect, how to authenticate and verify the host, and the agent to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["ssh", "winrm"] = "ssh"
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=256)
    password: SecretStr | None = None
    private_key: SecretStr | None = None
    """An OpenSSH or PEM private key (the text, not a path); used for this bootstrap only, never stored."""
    private_key_passphrase: SecretStr | None = None
    known_hosts: str | None = Field(default=None, max_length=256 * 1024)
    """known_hosts lines trusted in addition to `<state dir>/bootstrap/known_hosts`."""
    host_key_fingerprint: str | None = None
    """A pinned host key, `SHA256:...` as `ssh-keygen -lf` prints it."""
    accept_unknown_host_key: bool = False
    """Trust a host whose key is not known yet (and remember it); a changed key is refused all the same."""
    winrm_scheme: Literal["https", "http"] = "https"
    winrm_auth: Literal["ntlm", "kerberos", "credssp", "basic"] = "ntlm"
    winrm_ca_file: str | None = None
    """A CA bundle on the controller that verifies the WinRM HTTPS listener (default: the system store)."""
    address: str | None = None
    """The agent's listen address (default: `host`)."""
    agent_port: int = Field(default=55539, ge=1, le=65535)
    name: str | None = None
    """The agent's fleet name (default: `host`)."""
    labels: dict[str, str] = Field(default_factory=dict)
    controller_url: str | None = None
    """How the agent reaches the controller (default: the controller's own address and port)."""
    install_dir: str | None = None
    python: str | None = None
    """An interpreter that already has iisfleet installed: skip the venv and pip install (tests, pre-baked images)."""
    base_python: str | None = None
    """The interpreter that creates the agent's venv (default `python3`, on Windows `py -3`)."""
    service: Literal["auto", "systemd", "nohup", "nssm", "scheduled-task"] = "auto"
    join_token_ttl: float = Field(default=900.0, gt=0, le=86400)
    wait_timeout: float = Field(default=120.0, ge=1, le=1800)
    connect_timeout: float = Field(default=20.0, ge=1, le=300)

    @field_validator("host", "address")
    @classmethod
    def _plain_host(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.match(value):
            raise ValueError("must be a host name or an IP address")
        return value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
        return value

    @field_validator("host_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not _FINGERPRINT.match(value):
            raise ValueError("must be SHA256:<base64> as `ssh-keygen -lf` prints it")
        return value

    @field_validator("controller_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError("must be https://host[:port]")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _consistent(self) -> BootstrapRequest:
        windows = self.transport == "winrm"
        path = _WINDOWS_PATH if windows else _POSIX_PATH
        for member in ("install_dir", "python", "base_python"):
            value = getattr(self, member)
            if value is not None and not path.match(value) and not (member == "base_python" and _NAME.match(value)):
                raise ValueError(f"{member} must be an absolute {'Windows' if windows else 'POSIX'} path")
        allowed = ("auto", "nssm", "scheduled-task") if windows else ("auto", "systemd", "nohup")
        if self.service not in allowed:
            raise ValueError(f"service must be one of {', '.join(allowed)} for {self.transport}")
        if windows:
            if self.password is None and self.winrm_auth != "kerberos":
                raise ValueError("password is required for WinRM (except with kerberos)")
            if self.private_key or self.known_hosts or self.host_key_fingerprint or self.accept_unknown_host_key:
                raise ValueError("private_key and host key options apply to ssh only")
        elif self.password is None and self.private_key is None:
            raise ValueError("give private_key or password")
        return self

    @property
    def agent_name(self) -> str:
        """The agent's fleet name."""
        return self.name or self.host.strip("[]").replace(":", "-")

    @property
    def agent_address(self) -> str:
        """The address the agent listens on."""
        return self.address or self.host.strip("[]")

    @property
    def target_port(self) -> int:
        """The SSH or WinRM port."""
        if self.port:
            return self.port
        if self.transport == "ssh":
            return 22
        return 5986 if self.winrm_scheme == "https" else 5985

    @property
    def target_dir(self) -> str:
        """Where the agent is installed on the target."""
        return self.install_dir or (WINDOWS_DIR if self.transport == "winrm" else LINUX_DIR)
