"""`iisfleet agents list|show`: the registry as a table (labels, status, version, heartbeat) or JSON."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from rich.console import Console
from rich.table import Table

from iisfleet.client.http import ClientError, Controller

STATUS_STYLE = {"online": "green", "offline": "red"}


def _labels(agent: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(agent.get("labels", {}).items()))


def _selected(agents: list[dict[str, Any]], selector: str) -> list[dict[str, Any]]:
    wanted: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in selector.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ClientError(f"--selector {item!r} is not k=v")
        wanted[key.strip()] = value.strip()
    return [a for a in agents if all(a.get("labels", {}).get(k) == v for k, v in wanted.items())]


def _find(controller: Controller, ref: str) -> dict[str, Any]:
    """An agent by id, else by name."""
    try:
        return dict(controller.call("GET", f"/api/agents/{urllib.parse.quote(ref, safe='')}"))
    except ClientError as err:
        if err.status not in (400, 404):
            raise
    for agent in controller.call("GET", "/api/agents")["agents"]:
        if agent["name"] == ref:
            return dict(agent)
    raise ClientError(f"no agent has the id or name {ref!r}", 404)


def agents_command(controller: Controller, args: argparse.Namespace) -> int:
    """agents list [--selector k=v] | agents show ID-OR-NAME."""
    console = Console(width=None if sys.stdout.isatty() else 200)  # pipes get whole lines, not a guessed 80
    if args.agents_command == "show":
        agent = _find(controller, args.agent)
        if args.json:
            print(json.dumps(agent, indent=2))
            return 0
        facts = agent.get("facts", {})
        rows = [("id", agent["id"]), ("name", agent["name"]), ("status", agent["status"]), ("labels", _labels(agent)),
                ("url", agent["url"]), ("version", facts.get("agent_version", "")), ("os", facts.get("os", "")),
                ("backend", facts.get("host_backend", "")), ("sites", str(facts.get("site_count", 0))),
                ("pools", str(facts.get("pool_count", 0))), ("last heartbeat", agent.get("last_seen") or "never"),
                ("enrolled", agent.get("enrolled_on", "")), ("certificate expires", agent["certificate_expires_on"])]
        for name, value in rows:
            console.print(f"[bold]{name:<20}[/bold] {value}", highlight=False)
        return 0 if agent["status"] == "online" else 1
    agents = _selected(controller.call("GET", "/api/agents")["agents"], args.selector or "")
    if args.json:
        print(json.dumps({"agents": agents}, indent=2))
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "STATUS", "LABELS", "VERSION", "SITES", "POOLS", "LAST HEARTBEAT", "ID"):
        table.add_column(column)
    for agent in agents:
        facts = agent.get("facts", {})
        style = STATUS_STYLE.get(agent["status"], "yellow")
        table.add_row(agent["name"], f"[{style}]{agent['status']}[/{style}]", _labels(agent),
                      facts.get("agent_version", ""), str(facts.get("site_count", 0)), str(facts.get("pool_count", 0)),
                      agent.get("last_seen") or "never", agent["id"])
    console.print(table)
    online = sum(1 for a in agents if a["status"] == "online")
    console.print(f"{len(agents)} agents, {online} online, {len(agents) - online} offline")
    return 0


def add_agents_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                        leaf: Any) -> None:
    """Register `agents list` and `agents show` (leaf: the client parser's leaf factory)."""
    agents = sub.add_parser("agents", help="list the fleet's agents or show one")
    agent_sub = agents.add_subparsers(dest="agents_command", required=True)
    listing = leaf(agent_sub, "list", "every agent with status, labels, version and last heartbeat", agents_command,
                   job=False)
    listing.add_argument("--selector", default="", help="only agents with these labels, k=v,k2=v2")
    leaf(agent_sub, "show", "one agent by id or name", agents_command, job=False).add_argument("agent")
