"""`iisfleet sites ...`, `pools ...`, `deploy`, `rollback` and `jobs ...`: start jobs and follow them."""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iisfleet.client.http import ClientError, Controller
from iisfleet.client.progress import report, watch
from iisfleet.client.tree_sync import sync_tree

Command = Callable[[Controller, argparse.Namespace], int]


def _target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--selector", action="append", default=[], help="label k=v (repeat or k=v,k2=v2)")
    parser.add_argument("--agent", action="append", default=[], help="agent id (repeatable)")
    parser.add_argument("--batch-size", type=int, default=0, help="agents at a time (0: all)")
    parser.add_argument("--parallelism", type=int, default=None,
                        help="steps running at once (default: the controller's job parallelism)")
    parser.add_argument("--max-failures", type=int, default=None, help="stop starting hosts after N failures")
    parser.add_argument("--retries", type=int, default=None, help="retries after transient errors (default 3)")
    parser.add_argument("--health-path", default=None, help="check this path on each site after the step")
    parser.add_argument("--health-contains", default=None, help="text the health check answer must contain")
    parser.add_argument("--health-status", type=int, default=200)
    parser.add_argument("--no-wait", action="store_true", help="print the job and return at once")


def _job_body(args: argparse.Namespace, action: str, params: dict[str, Any]) -> dict[str, Any]:
    labels: dict[str, str] = {}
    for item in ",".join(args.selector).split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep:
                raise ClientError(f"--selector {item!r} is not k=v")
            labels[key.strip()] = value.strip()
    target: dict[str, Any] = {"agents": args.agent} if args.agent else {"labels": labels}
    strategy: dict[str, Any] = {"batch_size": args.batch_size}
    if args.parallelism is not None:
        strategy["parallelism"] = args.parallelism
    if args.max_failures is not None:
        strategy["max_failures"] = args.max_failures
    if args.retries is not None:
        strategy["retries"] = args.retries
    if args.health_path or args.health_contains:
        strategy["health_check"] = {"path": args.health_path or "/", "expect_status": args.health_status,
                                    **({"contains": args.health_contains} if args.health_contains else {})}
    return {"action": action, "target": target, "params": params, "strategy": strategy}


def _run_job(controller: Controller, args: argparse.Namespace, action: str, params: dict[str, Any]) -> int:
    view = controller.call("POST", "/api/jobs", _job_body(args, action, params))
    if args.no_wait:
        return report(view, args.json)
    final = watch(controller, view["id"], args.json)
    return report(final, True) if args.json else (1 if final["status"] != "succeeded" else 0)


def sites_command(controller: Controller, args: argparse.Namespace) -> int:
    """sites create|delete|start|stop NAME."""
    if args.sites_command == "create":
        binding = {"protocol": args.protocol, "port": args.port, "ip_address": args.ip, "hostname": args.hostname}
        params: dict[str, Any] = {"name": args.name, "bindings": [binding]}
        if args.physical_path:
            params["physical_path"] = args.physical_path
        if args.pool:
            params["pool"] = args.pool
        return _run_job(controller, args, "site.create", params)
    return _run_job(controller, args, f"site.{args.sites_command}", {"name": args.name})


def pools_command(controller: Controller, args: argparse.Namespace) -> int:
    """pools recycle|start|stop NAME."""
    return _run_job(controller, args, f"pool.{args.pools_command}", {"name": args.name})


def _pack(source: Path) -> Path:
    """A DIR becomes a tar.gz of its contents (in a temporary file); an archive is used as is."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise ClientError(f"{source} is neither a directory nor an archive")
    handle = tempfile.NamedTemporaryFile(prefix="iisfleet-deploy-", suffix=".tar.gz", delete=False)  # noqa: SIM115
    handle.close()
    with tarfile.open(handle.name, "w:gz", compresslevel=6) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_symlink():
                raise ClientError(f"{path} is a symbolic link; deploys carry regular files only")
            archive.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return Path(handle.name)


def deploy_command(controller: Controller, args: argparse.Namespace) -> int:
    """deploy DIR|ARCHIVE --site NAME: a DIR goes incrementally (only new contents travel) unless --full."""
    source = Path(args.path)
    if source.is_dir() and not args.full:
        artifact = sync_tree(controller, source, args.json)
        params = {"site": args.site, "artifact": artifact["sha256"], "app_path": args.app_path, "keep": args.keep}
        return _run_job(controller, args, "files.deploy", params)
    packed = _pack(source)
    try:
        artifact = controller.upload(packed, source.name if source.is_file() else f"{source.name}.tar.gz")
    finally:
        if packed != source:
            packed.unlink(missing_ok=True)
    if not args.json:
        print(f"artifact {artifact['sha256'][:12]}: {artifact['files']} files, {artifact['size']} bytes uploaded")
    params = {"site": args.site, "artifact": artifact["sha256"], "app_path": args.app_path, "keep": args.keep}
    return _run_job(controller, args, "files.deploy", params)


def rollback_command(controller: Controller, args: argparse.Namespace) -> int:
    """rollback --site NAME [--version V]."""
    params: dict[str, Any] = {"site": args.site, "app_path": args.app_path}
    if args.version:
        params["version"] = args.version
    return _run_job(controller, args, "files.rollback", params)


def jobs_command(controller: Controller, args: argparse.Namespace) -> int:
    """jobs list|show|watch|cancel|rerun."""
    if args.jobs_command == "list":
        query = f"?page={args.page}&per_page={args.per_page}" + (f"&cursor={args.cursor}" if args.cursor else "")
        page = controller.call("GET", "/api/jobs" + query)
        if args.json:
            print(json.dumps(page, indent=2))
            return 0
        for job in page["jobs"]:
            counts = " ".join(f"{k}={v}" for k, v in sorted(job["counts"].items()))
            print(f"{job['id']}  {job['created_on']}  {job['action']:<15} {job['status']:<10} {counts}")
        print(f"{page['total']} jobs" + (f"; next: --cursor {page['next_cursor']}" if page["next_cursor"] else ""))
        return 0
    if args.jobs_command == "show":
        return report(controller.call("GET", f"/api/jobs/{args.id}"), args.json)
    if args.jobs_command == "watch":
        final = watch(controller, args.id, args.json)
        return 1 if final["status"] in ("failed", "cancelled") else 0
    if args.jobs_command == "cancel":
        return report(controller.call("POST", f"/api/jobs/{args.id}/cancel"), args.json)
    view = controller.call("POST", f"/api/jobs/{args.id}/rerun")
    if args.no_wait:
        return report(view, args.json)
    final = watch(controller, view["id"], args.json)
    return report(final, True) if args.json else (1 if final["status"] != "succeeded" else 0)
