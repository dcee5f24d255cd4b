"""Incremental deploys end to end: real Redis, controller, worker and two agents on 127.0.0.2-3.

A redeploy with a few files changed builds a version folder byte-identical to a full deploy of the same tree
(another site, deployed from scratch), links every unchanged file from the previous version (same inode),
sends about the changed bytes only, and a rollback still serves the previous content exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet, site_get, tar_gz
from tests.e2e.test_controller_fleet import _local_redis

pytestmark = pytest.mark.e2e
SITES = {"inc": 8093, "full": 8094}
AGENTS = ("agent1", "agent2")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsFleet]:
    fleet = JobsFleet(tmp_path_factory.mktemp("incremental"), _local_redis())
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(len(AGENTS))
        for site, port in SITES.items():
            job = fleet.job({"action": "site.create", "target": {"labels": {"env": "e2e"}},
                             "params": {"name": site, "bindings": [{"port": port}]}})
            assert fleet.wait_job(job)["status"] == "succeeded"
        yield fleet
    finally:
        tear_down(fleet)


def _deploy(fleet: JobsFleet, site: str, files: dict[str, bytes], marker: str) -> dict[str, Any]:
    status, artifact = fleet.upload(tar_gz(files))
    assert status == 201, artifact
    job = fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                     "params": {"site": site, "artifact": artifact["sha256"], "keep": 3},
                     "strategy": {"health_check": {"path": "/index.html", "contains": marker}}})
    view = fleet.wait_job(job)
    assert view["status"] == "succeeded", view
    return fleet.by_name(view)


def _folder(fleet: JobsFleet, agent: str, result: dict[str, Any]) -> Path:
    path = Path(result["output"]["physical_path"])
    assert path.is_relative_to(fleet.tmp / agent), path
    return path


def _tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Relative path -> (content, mode) of files, None for directories."""
    return {str(p.relative_to(root)): ((p.read_bytes(), p.stat().st_mode & 0o7777) if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_incremental_deploy_matches_a_full_one_and_rolls_back(fleet: JobsFleet) -> None:
    first = {f"assets/d{n % 4}/f{n:03d}.bin": os.urandom(20_000 + n) for n in range(40)}
    first["index.html"] = b"release one"
    second = dict(first)
    second["index.html"] = b"release two"
    for n in (3, 17):
        second[f"assets/d{n % 4}/f{n:03d}.bin"] = os.urandom(20_000 + n)
    del second["assets/d1/f005.bin"]
    second["assets/new/added.txt"] = b"added"
    changed = {name for name, data in second.items() if first.get(name) != data}

    one = _deploy(fleet, "inc", first, "release one")
    two = _deploy(fleet, "inc", second, "release two")
    full = _deploy(fleet, "full", second, "release two")
    for agent, address in zip(AGENTS, ("127.0.0.2", "127.0.0.3"), strict=True):
        old, new = _folder(fleet, agent, one[agent]), _folder(fleet, agent, two[agent])
        assert site_get(address, SITES["inc"], "/index.html")[1] == "release two"
        output = two[agent]["output"]
        assert output["sent_files"] == len(changed) and output["linked_files"] == len(second) - len(changed), output
        changed_bytes = sum(len(second[name]) for name in changed)
        print(agent, "sent", output["sent_bytes"], "bytes for", changed_bytes, "changed bytes")
        assert output["sent_bytes"] < changed_bytes + 64 * 1024 + len(second) * 200, output  # + manifest, headers
        # Byte-identical (content and modes, directories too) to a full deploy of the same tree.
        assert _tree(new) == _tree(_folder(fleet, agent, full[agent]))
        assert {name for name, entry in _tree(new).items() if entry} == set(second)
        for name in set(second) - changed:
            assert (new / name).stat().st_ino == (old / name).stat().st_ino, name  # a hard link, not a copy
        for name in changed & set(first):
            assert (new / name).stat().st_ino != (old / name).stat().st_ino, name
        assert {name: entry[0] for name, entry in _tree(old).items() if entry} == first  # the base is untouched

    job = fleet.job({"action": "files.rollback", "target": {"labels": {"env": "e2e"}}, "params": {"site": "inc"},
                     "strategy": {"health_check": {"path": "/index.html", "contains": "release one"}}})
    view = fleet.wait_job(job)
    assert view["status"] == "succeeded", view
    for agent, address in zip(AGENTS, ("127.0.0.2", "127.0.0.3"), strict=True):
        assert site_get(address, SITES["inc"], "/index.html")[1] == "release one"
        back = Path(fleet.by_name(view)[agent]["output"]["physical_path"])
        assert back == _folder(fleet, agent, one[agent])
        assert {name: entry[0] for name, entry in _tree(back).items() if entry} == first


def _cli_deploy(fleet: JobsFleet, root: Path, marker: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`iisfleet deploy DIR --json`: (the artifact.synced line, the final job view)."""
    out = fleet.cli("deploy", str(root), "--site", "inc", "--selector", "env=e2e", "--json", "--controller",
                    fleet.url, "--token", fleet.token, "--cafile", str(fleet.state / "pki" / "ca.crt"),
                    "--health-path", "/index.html", "--health-contains", marker)
    synced = next(json.loads(line) for line in out.splitlines() if line.startswith('{"type": "artifact.synced"'))
    view = json.loads(out[out.index("\n{\n") + 1:] if "\n{\n" in out else out[out.index("{\n"):])
    return synced, view


def test_cli_deploy_of_a_directory_uploads_only_new_contents(fleet: JobsFleet, tmp_path: Path) -> None:
    root = tmp_path / "release"
    for n in range(12):
        (root / f"d{n % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"d{n % 3}" / f"f{n}.bin").write_bytes(os.urandom(10_000 + n))
    (root / "index.html").write_text("cli one")
    synced, view = _cli_deploy(fleet, root, "cli one")
    assert view["status"] == "succeeded" and synced["uploaded_files"] == 13, (synced, view)
    (root / "index.html").write_text("cli two")
    synced, view = _cli_deploy(fleet, root, "cli two")
    assert view["status"] == "succeeded", view
    assert (synced["uploaded_files"], synced["uploaded_bytes"]) == (1, len("cli two")), synced
    for result in view["results"]:
        assert result["output"]["sent_files"] == 1 and result["output"]["linked_files"] == 12, result
    for address in ("127.0.0.2", "127.0.0.3"):
        assert site_get(address, SITES["inc"], "/index.html")[1] == "cli two"
