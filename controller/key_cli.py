"""`iisfleet controller key create|list|revoke`: operator keys, straight on the controller's Redis.

They work while controllers run: every controller reads the key record on each request, so a new key is
accepted at once and a revoked one is refused from the next request on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from controller.auth.roles import ROLES
from controller.settings import ControllerSettings

Common = Callable[[argparse.ArgumentParser], None]
WithStore = Callable[[argparse.Namespace, Callable[[Any], Awaitable[Any]]], Any]


def add_key_commands(csub: argparse._SubParsersAction[argparse.ArgumentParser], common: Common) -> None:
    """Register `key create`, `key list` and `key revoke` under `controller`."""
    key = csub.add_parser("key", help="operator keys")
    ksub = key.add_subparsers(dest="key_command", required=True)

    create = ksub.add_parser("create", help="print a new operator token, and only the token")
    common(create)
    create.add_argument("--purpose", required=True)
    create.add_argument("--role", choices=ROLES, required=True,
                        help="viewer (read only), operator (+ jobs, gateway writes) or admin; no default, so that "
                             "nobody gets admin by leaving it out")
    create.add_argument("--scope", default="", help="only agents with these labels, k=v,k2=v2")
    create.add_argument("--expires", default=None, help="lifetime, e.g. 12h, 30d (default: never)")
    create.set_defaults(func=create_key)

    listing = ksub.add_parser("list", help="every key: id, purpose, role, scope, created, expires, last used")
    common(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=list_keys)

    revoke = ksub.add_parser("revoke", help="revoke a key by id or token; refused from the next request on")
    common(revoke)
    revoke.add_argument("key", metavar="ID-OR-TOKEN")
    revoke.set_defaults(func=revoke_key)


def _run(args: argparse.Namespace, action: Callable[[Any], Awaitable[Any]]) -> Any:
    from controller.cli import _settings, _with_store

    settings: ControllerSettings = _settings(args)
    return _with_store(settings, action)


def create_key(args: argparse.Namespace) -> int:
    """Print a new operator token."""
    from controller.auth.operators import create_key as create
    from controller.services.credentials import parse_labels
    from controller.services.errors import ServiceError
    from controller.settings import SettingsError, parse_duration

    try:
        scope = parse_labels(args.scope)
        lifetime = parse_duration(args.expires) if args.expires else None
    except (ServiceError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    async def go(store: Any) -> str:
        token, _view = await create(store, args.purpose, args.role, scope, lifetime)
        return token

    try:
        print(_run(args, go))
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def list_keys(args: argparse.Namespace) -> int:
    """Print every key (never a secret)."""
    from controller.auth.operators import list_keys as keys_of

    keys: list[dict[str, Any]] = _run(args, keys_of)
    if args.json:
        print(json.dumps(keys, indent=2))
        return 0
    columns = ("id", "purpose", "role", "scope", "created_on", "expires_on", "last_used", "revoked_on")
    rows = [[_cell(key[column]) for column in columns] for key in keys]
    widths = [max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    for row in [list(columns), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
    return "-" if value in (None, "") else str(value)


def revoke_key(args: argparse.Namespace) -> int:
    """Revoke a key; prints its id."""
    from controller.auth.operators import revoke_key as revoke
    from controller.services.errors import ServiceError

    async def go(store: Any) -> str:
        return str((await revoke(store, args.key))["id"])

    try:
        print(f"revoked {_run(args, go)}")
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
