"""The incremental way into a version folder: manifest first, then only the files the agent lacks.

The agent's version-builds extension (docs/compatibility.md) links every file its current version already
holds (same sha256, size and mode) and receives the rest as one uncompressed tar. A first deploy sends the
whole tree the same way. An agent without the extension answers 404 and the caller falls back to
archive-extract.
"""

from __future__ import annotations

import json
from typing import Any

from controller.services.actions.base import StepContext
from controller.services.actions.iis import FILES, file_by_path, pathmod
from controller.services.agent_client import PermanentError
from controller.services.artifact_trees import artifact_tree, tar_stream

BUILDS = FILES + "/version-builds"


async def build_version(
    ctx: StepContext, folder: dict[str, Any], version: str, sha256: str, current: str
) -> dict[str, int] | None:
    """Build `version` in `folder` from the artifact, linking from `current` when it is a sibling version.

    Returns what was sent and linked, or None when the agent lacks the extension.
    """
    tree, manifest = await artifact_tree(ctx.settings, sha256)
    where = str(folder["physical_path"])
    paths = pathmod(where)
    base = None
    if current and paths.dirname(current.rstrip("\\/")) == where.rstrip("\\/"):
        base = await file_by_path(ctx.client, current)
    body = {"parent": {"id": folder["id"]}, "name": version, "manifest": manifest,
            "base": {"id": base["id"]} if base and base.get("type") == "directory" else None}
    status, plan = await ctx.client.call("POST", BUILDS, body=body, allow=(404,))
    if status == 404:
        if isinstance(plan, dict) and plan.get("title") == "Not found" and not plan.get("name"):
            return None
        raise PermanentError(f"{ctx.client.name}: version-builds: {plan}")
    wanted = set(plan["missing"])
    files = [item for item in manifest["files"] if item["path"] in wanted]
    sent = [len(json.dumps(body))]
    await ctx.client.call("PUT", f"{BUILDS}/{plan['id']}", data=tar_stream(tree, files, sent),
                          headers={"Content-Type": "application/x-tar"})
    return {"sent_bytes": sent[0], "sent_files": len(files), "linked_files": int(plan["linked"]),
            "linked_bytes": int(plan["linked_bytes"])}
