"""`iisfleet bootstrap`: install and enroll an agent over SSH or WinRM from the controller's machine."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from controller.bootstrap.models import BootstrapRequest
    from controller.settings import ControllerSettings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `bootstrap`."""
    cmd = sub.add_parser("bootstrap", help="install and enroll an agent over SSH or WinRM")
    cmd.add_argument("--state-dir", type=Path, required=True, help="the controller's state directory")
    cmd.add_argument("--redis-url", default=None, help="Redis URL (default: the embedded Redis of the state dir)")
    cmd.add_argument("--transport", choices=("ssh", "winrm"), default="ssh")
    cmd.add_argument("--host", required=True)
    cmd.add_argument("--port", type=int, default=None, help="SSH/WinRM port (default 22 / 5986)")
    cmd.add_argument("--user", required=True)
    cmd.add_argument("--identity", type=Path, default=None, help="SSH private key file")
    cmd.add_argument("--ask-password", action="store_true", help="prompt for the login password")
    cmd.add_argument("--ask-passphrase", action="store_true", help="prompt for the private key's passphrase")
    cmd.add_argument("--known-hosts", type=Path, default=None, help="extra known_hosts file")
    cmd.add_argument("--host-key-fingerprint", default=None, help="pinned host key, SHA256:...")
    cmd.add_argument("--accept-unknown-host-key", action="store_true",
                     help="trust (and remember) a host key seen for the first time")
    cmd.add_argument("--winrm-scheme", choices=("https", "http"), default="https")
    cmd.add_argument("--winrm-auth", choices=("ntlm", "kerberos", "credssp", "basic"), default="ntlm")
    cmd.add_argument("--winrm-ca-file", default=None)
    cmd.add_argument("--address", default=None, help="agent listen address (default: --host)")
    cmd.add_argument("--agent-port", type=int, default=55539)
    cmd.add_argument("--name", default=None, help="agent name (default: --host)")
    cmd.add_argument("--labels", default="", help="k=v,k2=v2")
    cmd.add_argument("--controller-url", default=None, help="how the agent reaches the controller")
    cmd.add_argument("--install-dir", default=None)
    cmd.add_argument("--python", default=None, help="reuse this interpreter (iisfleet installed): no install")
    cmd.add_argument("--base-python", default=None, help="interpreter that creates the agent's venv")
    cmd.add_argument("--service", choices=("auto", "systemd", "nohup", "nssm", "scheduled-task"), default="auto")
    cmd.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the agent to come online")
    cmd.set_defaults(func=run_bootstrap)


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    from controller.services.credentials import parse_labels

    body: dict[str, Any] = {
        "transport": args.transport, "host": args.host, "port": args.port, "username": args.user,
        "host_key_fingerprint": args.host_key_fingerprint, "accept_unknown_host_key": args.accept_unknown_host_key,
        "address": args.address, "agent_port": args.agent_port, "name": args.name,
        "labels": parse_labels(args.labels), "controller_url": args.controller_url,
        "install_dir": args.install_dir, "python": args.python, "base_python": args.base_python,
        "service": args.service, "wait_timeout": args.wait,
    }  # fmt: skip
    if args.transport == "winrm":
        body.update(winrm_scheme=args.winrm_scheme, winrm_auth=args.winrm_auth, winrm_ca_file=args.winrm_ca_file)
    if args.identity is not None:
        body["private_key"] = args.identity.read_text(encoding="utf-8")
    if args.known_hosts is not None:
        body["known_hosts"] = args.known_hosts.read_text(encoding="utf-8")
    # Secrets are prompted for, never taken from the command line (shell history, `ps`).
    if args.ask_password:
        body["password"] = getpass.getpass(f"password for {args.user}@{args.host}: ")
    if args.ask_passphrase:
        body["private_key_passphrase"] = getpass.getpass("private key passphrase: ")
    return body


def run_bootstrap(args: argparse.Namespace) -> int:
    """Bootstrap one agent and wait until it is online; exit 1 on failure."""
    from controller.bootstrap.models import BootstrapRequest
    from controller.services.errors import ServiceError
    from controller.settings import SettingsError, load_settings

    try:
        request = BootstrapRequest.model_validate(_request_body(args))
        settings = load_settings(args.state_dir, redis_url=args.redis_url)
    except ValidationError as err:
        # Only locations and messages: pydantic's full text repeats the input, secrets included.
        for problem in err.errors():
            print(f"error: {'.'.join(map(str, problem['loc'])) or 'request'}: {problem['msg']}", file=sys.stderr)
        return 2
    except (ServiceError, SettingsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    view = asyncio.run(_run(settings, request))
    if view.get("status") != "succeeded":
        print(f"error: bootstrap {view.get('id')} failed: {view.get('error')}", file=sys.stderr)
        if view.get("output"):
            print(view["output"], file=sys.stderr)
        return 1
    print(f"agent {view['name']} ({view['agent_id']}) is online; bootstrap {view['id']}")
    return 0


async def _run(settings: ControllerSettings, request: BootstrapRequest) -> dict[str, Any]:
    from controller.app import open_redis
    from controller.bootstrap import records, service
    from controller.pki import CertificateAuthority
    from controller.server import redis_for_tools
    from controller.store import FleetStore

    location = redis_for_tools(settings)
    redis = open_redis(location.url)
    try:
        store = FleetStore(redis, settings.redis_prefix)
        ctx = service.context_for(store, settings, CertificateAuthority(settings.pki_dir).fingerprint)
        bootstrap_id = await service.create_record(ctx, request)
        await service.execute(ctx, bootstrap_id, request)
        return await records.view(store, bootstrap_id) or {"id": bootstrap_id, "status": "failed", "error": "lost"}
    finally:
        await redis.aclose()
        location.close()
