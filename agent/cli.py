"""`iisfleet agent ...` commands: run the agent, create an access key."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from aiohttp import web

log = logging.getLogger("iisfleet.agent")
DEFAULT_PORT = 55539


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `agent run` and `agent key create`."""
    agent = sub.add_parser("agent", help="the per-server IIS Administration API agent")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)

    run = agent_sub.add_parser("run", help="run the agent")
    run.add_argument("--state-dir", type=Path, required=True)
    run.add_argument("--address", default="127.0.0.1", help="listen address; '*' bindings mean this address")
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--controller", default=None, help="enroll with (or keep reporting to) this controller URL")
    run.add_argument("--join-token-file", default=None, metavar="PATH",
                     help="file holding the single-use join token for the first enrollment ('-': read stdin)")
    run.add_argument("--join-token", default=None, help=argparse.SUPPRESS)  # discouraged: ps shows it
    run.add_argument("--name", default=None, help="agent name in the fleet (default: host name, plus address)")
    run.set_defaults(func=run_agent)

    key = agent_sub.add_parser("key", help="access keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    create = key_sub.add_parser("create", help="print a new access token, and only the token")
    create.add_argument("--state-dir", type=Path, required=True)
    create.add_argument("--purpose", required=True)
    create.add_argument("--expires-on", type=_iso_datetime, default=None, help="ISO 8601 expiry (default: never)")
    create.add_argument(
        "--scope",
        choices=("system", "api", "controller"),
        default="system",
        help="system: every policy, as upstream (default); api: no file locations or key management",
    )
    create.set_defaults(func=create_key)


def _iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date and time") from err
    return value if value.tzinfo else value.astimezone()


def create_key(args: argparse.Namespace) -> int:
    """Create an API key in the state directory and print its token."""
    from agent.security.api_key_store import ApiKeyStore
    from agent.settings import SettingsError, load_settings

    state_dir: Path = args.state_dir.resolve()
    try:
        settings = load_settings(state_dir / "appsettings.json")
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = ApiKeyStore(state_dir / "api-keys.json", settings.api_keys.keys)
    _key, token = store.create(args.purpose, args.expires_on, scope=args.scope)
    print(token)
    return 0


def run_agent(args: argparse.Namespace) -> int:
    """Run the agent until SIGINT/SIGTERM."""
    from agent.settings import SettingsError, load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings(state_dir / "appsettings.json")
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        join_token = _join_token(args)
    except OSError as err:
        print(f"error: cannot read the join token: {err}", file=sys.stderr)
        return 2
    fleet = (args.controller, join_token, args.name) if args.controller else None
    from shared.event_loop import run

    return run(_serve(state_dir, settings, args.address, args.port, fleet))


def _join_token(args: argparse.Namespace) -> str | None:
    """The join token from --join-token-file (a path, or '-' for stdin); --join-token still works, with a warning."""
    if args.join_token_file == "-":
        return sys.stdin.readline().strip() or None
    if args.join_token_file:
        return Path(args.join_token_file).read_text(encoding="utf-8").strip() or None
    if args.join_token:
        log.warning("--join-token puts the token on the command line, where other users can read it; "
                    "use --join-token-file PATH or --join-token-file - (stdin)")
    return str(args.join_token) if args.join_token else None


async def _serve(
    state_dir: Path, settings: object, address: str, port: int, fleet: tuple[str, str | None, str | None] | None = None
) -> int:
    from agent.app import build_app
    from agent.security.tls import server_ssl_context
    from agent.settings import AgentSettings, SettingsError

    assert isinstance(settings, AgentSettings)
    enrollment = None
    if fleet is not None:
        from agent.enrollment import EnrollmentError, agent_identity, ensure_enrolled, gather_facts

        name, url = agent_identity(fleet[2], address, port)
        try:
            enrollment = await ensure_enrolled(state_dir, fleet[0], fleet[1], name=name, url=url, facts=gather_facts())
        except EnrollmentError as err:
            log.error("%s", err)
            print(f"error: {err}", file=sys.stderr)
            return 1
        log.info(
            "enrolled with %s as %s (agent id %s)", enrollment.controller_url, enrollment.name, enrollment.agent_id
        )
    try:
        app = build_app(state_dir, settings, address=address)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if enrollment is not None:
        from agent.controller_link import server_context
        from agent.keys import REQUIRE_CONTROLLER_CERTIFICATE

        ssl_context = server_context(enrollment)
        app[REQUIRE_CONTROLLER_CERTIFICATE] = True
    else:
        ssl_context = server_ssl_context(state_dir, settings, [address])
    from agent.security.server_limits import LimitedSite

    limits = settings.iisfleet.limits
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=limits.keepalive_timeout)
    await runner.setup()
    site = LimitedSite(runner, address, port, limits, ssl_context=ssl_context)
    await site.start()
    log.info("agent listening on https://%s:%d (state %s)", address, port, state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still ends asyncio.run
            loop.add_signal_handler(sig, stop.set)
    from shared.asyncio_utils import create_task
    from shared.memory import trim_periodically

    # Start-up leaves free pages inside the heap; give them back now and after later bursts of requests.
    trimmer = create_task(trim_periodically(), name="malloc-trim")
    link = None
    if enrollment is not None:
        from agent.controller_link import ControllerLink, host_summary
        from agent.security.metrics_cert import SCRAPE_REVOCATIONS

        beats = ControllerLink(enrollment, lambda: host_summary(app), ssl_context, app[SCRAPE_REVOCATIONS])
        link = create_task(beats.run(), name="controller-link")
    try:
        await stop.wait()
    finally:
        log.info("agent stopping")
        trimmer.cancel()
        if link is not None:
            link.cancel()
        await runner.cleanup()
    return 0
