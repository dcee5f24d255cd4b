"""The `iisfleet` console script: one entry point for agent, controller and client commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from agent.cli import add_commands as add_agent_commands
    from controller.bootstrap.cli import add_commands as add_bootstrap_commands
    from controller.cli import add_commands as add_controller_commands
    from iisfleet.client.parser import add_commands as add_client_commands
    from iisfleet.demo import add_commands as add_demo_commands

    parser = argparse.ArgumentParser(prog="iisfleet", description="Manage a fleet of IIS web servers as one.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_agent_commands(sub)
    add_controller_commands(sub)
    add_demo_commands(sub)
    add_client_commands(sub)
    add_bootstrap_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
