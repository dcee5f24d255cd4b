"""The agent's HTTPS certificate: the configured one, or a self-signed one made on first run."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from agent.settings import AgentSettings
from shared.fsutil import atomic_write_bytes
from shared.paths import expand_path

VALIDITY = timedelta(days=730)


def certificate_path(state_dir: Path) -> Path:
    """The self-signed certificate clients may pin or trust."""
    return state_dir / "certs" / "agent.crt"


def key_path(state_dir: Path) -> Path:
    """The private key of the self-signed certificate (mode 0600)."""
    return state_dir / "certs" / "agent.key"


def create_self_signed(cert_file: Path, key_file: Path, hostnames: Iterable[str]) -> None:
    """Write an EC P-256 self-signed serverAuth certificate valid for two years."""
    from shared.x509util import self_signed_server  # first run only: cryptography is ~7 MiB resident

    cert_pem, key_pem = self_signed_server([*hostnames, "localhost", "127.0.0.1"], VALIDITY)
    # Key first: a certificate without its key would be "reused" and fail to load.
    atomic_write_bytes(key_file, key_pem, mode=0o600)
    atomic_write_bytes(cert_file, cert_pem, mode=0o644)


def server_ssl_context(state_dir: Path, settings: AgentSettings, hostnames: list[str]) -> ssl.SSLContext:
    """The server TLS context: settings' cert/key files, or the state directory's self-signed pair."""
    tls = settings.iisfleet.tls
    if tls.cert_file and tls.key_file:
        cert_file, key_file = Path(expand_path(tls.cert_file)), Path(expand_path(tls.key_file))
    else:
        cert_file, key_file = certificate_path(state_dir), key_path(state_dir)
        if not (cert_file.exists() and key_file.exists()):
            create_self_signed(cert_file, key_file, hostnames)
        else:
            os.chmod(key_file, 0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
