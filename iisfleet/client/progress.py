"""Following a job: rich progress bars per batch and per agent, or JSON lines with --json."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from iisfleet.client.http import Controller

DONE = {"succeeded", "failed", "skipped", "cancelled"}
STYLE = {"succeeded": "green", "failed": "red", "skipped": "yellow", "cancelled": "yellow", "retrying": "magenta"}


def _label(name: str, status: str, detail: str = "") -> str:
    style = STYLE.get(status, "cyan")
    tail = f"  [dim]{detail[:80]}[/dim]" if detail and status in ("failed", "retrying", "skipped") else ""
    return f"  {name:<20} [{style}]{status}[/{style}]{tail}"


def watch(controller: Controller, job_id: str, as_json: bool) -> dict[str, Any]:
    """Follow the job's events until it finishes; returns its final view."""
    if as_json:
        for event in controller.events(job_id):
            print(json.dumps(event), flush=True)
        return dict(controller.call("GET", f"/api/jobs/{job_id}"))
    view = controller.call("GET", f"/api/jobs/{job_id}")
    console = Console(stderr=False)
    names = {r["agent"]: r["name"] for r in view["results"]}
    batches: dict[int, list[str]] = {}
    for result in view["results"]:
        batches.setdefault(int(result["batch"]), []).append(result["agent"])
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task(f"[bold]job {job_id} {view['action']}", total=len(names))
        batch_bars: dict[int, TaskID] = {}
        agent_bars: dict[str, TaskID] = {}
        for index, agents in sorted(batches.items()):
            batch_bars[index] = progress.add_task(f" batch {index + 1}/{len(batches)}", total=len(agents))
            for agent_id in agents:
                agent_bars[agent_id] = progress.add_task(_label(names[agent_id], "pending"), total=1)
        agent_batch = {agent_id: index for index, agents in batches.items() for agent_id in agents}
        finished: set[str] = set()
        for event in controller.events(job_id):
            agent_id = str(event.get("agent") or "")
            status = str(event.get("status") or event["type"].removeprefix("step."))
            if agent_id in agent_bars and event["type"].startswith("step."):
                done = status in DONE
                progress.update(agent_bars[agent_id], description=_label(names[agent_id], status,
                                                                         str(event.get("detail", ""))),
                                completed=1 if done else 0)
                if done and agent_id not in finished:
                    finished.add(agent_id)
                    progress.advance(overall)
                    progress.advance(batch_bars[agent_batch[agent_id]])
    final = dict(controller.call("GET", f"/api/jobs/{job_id}"))
    style = STYLE.get(final["status"], "cyan")
    console.print(f"job {job_id}: [{style}]{final['status']}[/{style}]"
                  + (f" - {final['error']}" if final.get("error") else ""))
    return final


def report(view: dict[str, Any], as_json: bool) -> int:
    """Print a job view; exit status 0 only when it succeeded (or is still going)."""
    if as_json:
        print(json.dumps(view, indent=2))
    else:
        console = Console()
        console.print(f"[bold]job {view['id']}[/bold] {view['action']}  status [bold]{view['status']}[/bold]"
                      f"  created {view['created_on']}")
        if view.get("error"):
            console.print(f"  error: {view['error']}")
        for result in view.get("results", []):
            console.print(_label(result["name"], result["status"], str(result.get("detail", ""))))
    return 1 if view["status"] in ("failed", "cancelled") else 0


def fail(message: str) -> int:
    """Print an error for the operator; exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2
