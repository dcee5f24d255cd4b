"""The `iisfleet` console script: one entry point for agent, controller and client commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser(agent_only: bool = False) -> argparse.ArgumentParser:
    """The whole command tree; with `agent_only`, just `iisfleet agent ...`.

    The agent runs on every server, so `iisfleet agent run` registers only its own commands: the rest of the
    tree imports the controller, the operator client, redis and rich, ~12 MiB resident that the agent never
    uses (bench/idle_memory.py; tests/e2e/test_agent_idle_imports.py keeps them out).
    """
    from agent.cli import add_commands as add_agent_commands

    parser = argparse.ArgumentParser(prog="iisfleet", description="Manage a fleet of IIS web servers as one.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_agent_commands(sub)
    if agent_only:
        return parser
    from controller.bootstrap.cli import add_commands as add_bootstrap_commands
    from controller.cli import add_commands as add_controller_commands
    from iisfleet.client.parser import add_commands as add_client_commands
    from iisfleet.demo import add_commands as add_demo_commands

    add_controller_commands(sub)
    add_demo_commands(sub)
    add_client_commands(sub)
    add_bootstrap_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(agent_only=words[:1] == ["agent"]).parse_args(words)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
