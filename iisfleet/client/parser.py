"""Registration of the client commands on the `iisfleet` parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from iisfleet.client import commands
from iisfleet.client.agents import add_agents_commands
from iisfleet.client.http import ClientError, Controller, add_connection_flags
from iisfleet.client.progress import fail

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _bind(command: commands.Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(Controller.from_args(args), args)
        except ClientError as err:
            return fail(str(err))
        except KeyboardInterrupt:
            return fail("interrupted; the job keeps running on the controller (iisfleet jobs watch ID)")

    return run


def _leaf(
    sub: Sub, name: str, help_text: str, command: commands.Command, *, job: bool = True
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text)
    add_connection_flags(parser)
    if job:
        commands._target_flags(parser)
    parser.set_defaults(func=_bind(command))
    return parser


def add_commands(sub: Sub) -> None:
    """Register `sites`, `pools`, `deploy`, `rollback`, `jobs` and `agents`."""
    add_agents_commands(sub, _leaf)
    sites = sub.add_parser("sites", help="create, delete, start or stop a site across the fleet (a job)")
    site_sub = sites.add_subparsers(dest="sites_command", required=True)
    create = _leaf(site_sub, "create", "create a site, its pool and content folder", commands.sites_command)
    create.add_argument("name")
    create.add_argument("--port", type=int, default=8080)
    create.add_argument("--protocol", choices=("http", "https"), default="http")
    create.add_argument("--ip", default="*", help="binding address (* = each agent's own address)")
    create.add_argument("--hostname", default="")
    create.add_argument("--physical-path", default=None)
    create.add_argument("--pool", default=None, help="application pool (default: named after the site)")
    for verb in ("delete", "start", "stop"):
        _leaf(site_sub, verb, f"{verb} a site", commands.sites_command).add_argument("name")

    pools = sub.add_parser("pools", help="recycle, start or stop an application pool across the fleet (a job)")
    pool_sub = pools.add_subparsers(dest="pools_command", required=True)
    for verb in ("recycle", "start", "stop"):
        _leaf(pool_sub, verb, f"{verb} an application pool", commands.pools_command).add_argument("name")

    deploy = _leaf(sub, "deploy", "deploy a directory (only contents the controller lacks are uploaded) or an "
                   "archive to a site", commands.deploy_command)
    deploy.add_argument("path", help="DIR or ARCHIVE (zip, tar, tar.gz)")
    deploy.add_argument("--site", required=True)
    deploy.add_argument("--app-path", default="/", help="application path inside the site (default /)")
    deploy.add_argument("--keep", type=int, default=3, help="previous versions to keep (default 3)")
    deploy.add_argument("--full", action="store_true",
                        help="pack DIR as tar.gz and upload all of it (for agents without version builds)")

    rollback = _leaf(sub, "rollback", "switch a site back to its previous (or a named) version",
                     commands.rollback_command)
    rollback.add_argument("--site", required=True)
    rollback.add_argument("--app-path", default="/")
    rollback.add_argument("--version", default=None)

    jobs = sub.add_parser("jobs", help="list, show, watch, cancel or re-run jobs")
    job_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = _leaf(job_sub, "list", "job history, newest first", commands.jobs_command, job=False)
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--per-page", type=int, default=20)
    listing.add_argument("--cursor", default=None)
    for verb, text in (("show", "a job and its per-agent results"), ("watch", "follow a job with progress bars"),
                       ("cancel", "cancel a job")):
        _leaf(job_sub, verb, text, commands.jobs_command, job=False).add_argument("id")
    rerun = _leaf(job_sub, "rerun", "run a finished job again on the hosts that did not succeed",
                  commands.jobs_command, job=False)
    rerun.add_argument("id")
    rerun.add_argument("--no-wait", action="store_true")
