"""Every way out of the locations answers 403 and changes nothing on disk; writes need the write claim."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.agent.files.conftest import FilesEnv


def snapshot(*roots: Path) -> dict[str, bytes | None]:
    """Every path under the roots with its content (None for directories and links)."""
    out: dict[str, bytes | None] = {}
    for root in roots:
        for base, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(base, name)
                out[path] = None if os.path.isdir(path) or os.path.islink(path) else Path(path).read_bytes()
    return out


@pytest.fixture
def secret(env: FilesEnv) -> Path:
    """A file outside every location, and a link to it (and to its folder) inside the rw location."""
    target = env.outside / "secret.txt"
    target.write_text("top secret")
    (env.rw / "link.txt").symlink_to(target)
    (env.rw / "linkdir").symlink_to(env.outside)
    return target


async def test_reads_outside_are_forbidden(env: FilesEnv, secret: Path) -> None:
    before = snapshot(env.rw, env.ro, env.outside)
    traversal = f"{env.rw}/../outside/secret.txt"
    for url in (
        f"/api/files?physical_path={traversal}",
        f"/api/files?physical_path={quote(traversal, safe='')}",
        f"/api/files?physical_path={str(env.rw).replace('/', '%2F')}%2F%2e%2e%2Foutside",
        f"/api/files?physical_path={secret}",
        "/api/files?physical_path=/etc/passwd",
        f"/api/files?physical_path={env.rw / 'link.txt'}",
        f"/api/files/{env.id(secret)}",
        f"/api/files/{env.raw_id(traversal)}",
        f"/api/files/{env.id(env.rw / 'link.txt')}",
        f"/api/files/content/{env.id(env.rw / 'link.txt')}",
        f"/api/files/content/{env.raw_id(traversal)}",
        f"/api/files/content/{env.id(env.rw / 'linkdir' / 'secret.txt')}",
        f"/api/files?parent.id={env.id(env.rw / 'linkdir')}",
        f"/api/files?parent.id={env.raw_id(str(env.rw) + '/..')}",
    ):
        body = await env.json("GET", url, 403, headers={})
        assert body["title"] == "Forbidden" and "top secret" not in str(body)
    listing = await env.json("GET", f"/api/files?parent.id={env.id(env.rw)}", 200)
    assert listing["files"] == []  # links that leave the locations are not listed
    await env.json("POST", "/api/files/downloads", 403, json={"file": {"id": env.id(env.rw / "link.txt")}})
    assert snapshot(env.rw, env.ro, env.outside) == before


async def test_writes_outside_are_forbidden(env: FilesEnv, secret: Path) -> None:
    (env.rw / "in.txt").write_text("in")
    before = snapshot(env.rw, env.ro, env.outside)
    up = env.raw_id(f"{env.rw}/..")
    link, linkdir = env.id(env.rw / "link.txt"), env.id(env.rw / "linkdir")
    await env.json("POST", "/api/files", 403, json={"parent": {"id": up}, "name": "x", "type": "file"})
    await env.json("POST", "/api/files", 403, json={"parent": {"id": linkdir}, "name": "x", "type": "directory"})
    await env.json("PATCH", f"/api/files/{link}", 403, json={"name": "y"})
    await env.json("PATCH", f"/api/files/{env.raw_id(str(secret))}", 403, json={"name": "y"})
    await env.json("DELETE", f"/api/files/{link}", 403)
    await env.json("DELETE", f"/api/files/{env.raw_id(str(env.rw) + '/../outside')}", 403)
    async with env.client.put(f"/api/files/content/{link}", data=b"owned") as resp:
        assert resp.status == 403
    async with env.client.put(f"/api/files/content/{link}", data=b"owned",
                              headers={"Content-Range": "bytes 0-4/5"}) as resp:
        assert resp.status == 403
    for kind in ("copy", "move"):
        await env.json("POST", f"/api/files/{kind}", 403, json={"file": {"id": env.id(env.rw / "in.txt")},
                                                                "parent": {"id": linkdir}})
        await env.json("POST", f"/api/files/{kind}", 403, json={"file": {"id": link}, "parent": {"id": env.id(env.rw)},
                                                                "name": "stolen.txt"})
    assert snapshot(env.rw, env.ro, env.outside) == before


async def test_read_only_location_rejects_writes_with_detail(env: FilesEnv) -> None:
    (env.ro / "f.txt").write_text("keep")
    before = snapshot(env.ro)
    fid = env.id(env.ro / "f.txt")
    for method, url, kw in (
        ("POST", "/api/files", {"json": {"parent": {"id": env.id(env.ro)}, "name": "n", "type": "file"}}),
        ("PATCH", f"/api/files/{fid}", {"json": {"name": "g.txt"}}),
        ("DELETE", f"/api/files/{fid}", {}),
        ("PUT", f"/api/files/content/{fid}", {"data": b"changed"}),
    ):
        body = await env.json(method, url, 403, **kw)
        assert body == {"title": "Forbidden", "name": str(env.ro / ("f.txt" if method != "POST" else "")).rstrip("/"),
                        "detail": "Read-Only", "status": 403}
    assert (await env.json("GET", f"/api/files/{fid}", 200))["claims"] == ["read"]
    assert snapshot(env.ro) == before


async def test_skip_resolving_symbolic_links_follows_the_setting(env: FilesEnv, secret: Path) -> None:
    from agent.keys import FILE_LOCATIONS, SETTINGS

    settings = env.app[SETTINGS]
    env.app[FILE_LOCATIONS].update(settings.files.model_copy(update={"skip_resolving_symbolic_links": True}))
    body = await env.json("GET", f"/api/files/{env.id(env.rw / 'link.txt')}", 200)
    assert body["size"] == len("top secret")
