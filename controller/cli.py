"""`iisfleet controller ...` and `iisfleet worker run`: run the API, make operator keys and join tokens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from controller.key_cli import add_key_commands
from controller.settings import ControllerSettings, SettingsError, load_settings, parse_duration
from controller.store import FleetStore

_T = TypeVar("_T")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `controller run`, `controller key create|list|revoke`, `controller join-token create`, `worker run`."""
    controller = sub.add_parser("controller", help="the fleet controller")
    csub = controller.add_subparsers(dest="controller_command", required=True)

    run = csub.add_parser("run", help="run the controller API (HTTPS)")
    _common(run)
    run.add_argument("--port", type=int, default=None, help="listen port (default 55540)")
    run.add_argument("--address", default=None, help="listen address (default 0.0.0.0)")
    run.set_defaults(func=run_controller)

    add_key_commands(csub, _common)

    join = csub.add_parser("join-token", help="join tokens for enrolling agents")
    join_create = join.add_subparsers(dest="join_command", required=True).add_parser(
        "create", help="print a single-use, expiring join token"
    )
    _common(join_create)
    join_create.add_argument("--labels", default="", help="labels for the agent, k=v,k2=v2")
    join_create.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 7d (default 1h)")
    join_create.add_argument("--name", default="", help="the only agent name that may enroll with it")
    join_create.add_argument("--address", default="", help="the only agent address (URL host) that may use it")
    join_create.set_defaults(func=create_join_token)

    worker = sub.add_parser("worker", help="controller background workers (Celery)")
    worker_run = worker.add_subparsers(dest="worker_command", required=True).add_parser("run", help="run a worker")
    _common(worker_run)
    worker_run.set_defaults(func=run_worker)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--redis-url", default=None, help="Redis URL (default: the embedded Redis of the state dir)")


def _settings(args: argparse.Namespace) -> ControllerSettings:
    return load_settings(
        args.state_dir,
        address=getattr(args, "address", None),
        port=getattr(args, "port", None),
        redis_url=args.redis_url,
    )


def run_controller(args: argparse.Namespace) -> int:
    """Run the controller until SIGINT/SIGTERM."""
    from controller.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


def create_join_token(args: argparse.Namespace) -> int:
    """Print a new join token."""
    from controller.pki import CertificateAuthority
    from controller.services.credentials import create_join_token as create
    from controller.services.credentials import parse_labels
    from controller.services.errors import ServiceError

    settings = _settings(args)
    try:
        labels = parse_labels(args.labels)
        ttl = parse_duration(args.ttl)
    except (ServiceError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    fingerprint = CertificateAuthority(settings.pki_dir).fingerprint
    try:
        print(_with_store(settings, lambda store: create(store, labels, ttl, fingerprint, name=args.name,
                                                         address=args.address)))
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _with_store(settings: ControllerSettings, action: Callable[[FleetStore], Awaitable[_T]]) -> _T:
    from controller.app import open_redis
    from controller.server import redis_for_tools
    from controller.store import FleetStore

    async def go() -> _T:
        location = redis_for_tools(settings)
        redis = open_redis(location.url)
        try:
            return await action(FleetStore(redis, settings.redis_prefix))
        finally:
            await redis.aclose()
            location.close()

    return asyncio.run(go())


def run_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker on the controller's Redis."""
    from controller.server import redis_for_tools
    from controller.worker.celery_app import run_worker as run

    settings = _settings(args)
    location = redis_for_tools(settings)
    try:
        run(location.url, settings)
    finally:
        location.close()
    return 0
