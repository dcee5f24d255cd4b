"""/api/files: roots, listings with paging, metadata, create, rename (209) and delete."""

from __future__ import annotations

import os

from tests.agent.files.conftest import HAL, FilesEnv


async def test_roots_list_readable_locations_with_alias(env: FilesEnv) -> None:
    body = await env.json("GET", "/api/files", 200)
    assert [f["name"] for f in body["files"]] == ["rw", "ro"]
    assert body["files"][0] == {
        "name": "rw", "id": env.id(env.rw), "type": "directory", "physical_path": str(env.rw),
        "_links": {"self": {"href": f"/api/files/{env.id(env.rw)}"}},
    }
    full = await env.json("GET", f"/api/files/{env.id(env.rw)}", 200)
    assert full["alias"] == "rw" and full["claims"] == ["read", "write"] and full["parent"] is None
    assert set(full["_links"]) == {"self", "files", "copy", "move"}
    filtered = await env.json("GET", "/api/files?name=R", 200)
    assert len(filtered["files"]) == 2
    assert (await env.json("GET", "/api/files?name=ro", 200))["files"][0]["name"] == "ro"


async def test_no_links_without_hal(env: FilesEnv) -> None:
    body = await env.json("GET", "/api/files", 200, headers={})
    assert "_links" not in body["files"][0]


async def test_listing_dirs_first_hidden_skipped_and_item_paging(env: FilesEnv) -> None:
    for name in ("d1", "d2", "d3"):
        (env.rw / name).mkdir()
    for name in ("a.txt", "b.txt", "c.txt", ".hidden"):
        (env.rw / name).write_text(name)
    url = f"/api/files?parent.id={env.id(env.rw)}"
    async with env.client.get(url) as resp:
        body = await resp.json(content_type=None)
        assert resp.headers["X-Total-Count"] == "6" and resp.headers["Accept-Ranges"] == "files"
    assert [f["name"] for f in body["files"]] == ["d1", "d2", "d3", "a.txt", "b.txt", "c.txt"]
    async with env.client.get(url, headers={"Range": "files=1-3"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Range"] == "1-3/6"
        assert [f["name"] for f in (await resp.json(content_type=None))["files"]] == ["d2", "d3", "a.txt"]
    for bad in ("files=3-1", "files=0-6", "files=a-b", "items=0-1"):
        await env.json("GET", url, 416, headers={"Range": bad})
    async with env.client.head(url) as resp:
        assert resp.status == 200 and resp.headers["X-Total-Count"] == "6" and not await resp.read()
    await env.json("GET", f"{url}&name=a*", 400)


async def test_file_model_and_fields(env: FilesEnv) -> None:
    (env.rw / "page.html").write_text("<p>hi</p>")
    body = await env.json("GET", f"/api/files/{env.id(env.rw / 'page.html')}", 200)
    assert body["type"] == "file" and body["size"] == 9 and body["mime_type"] == "text/html"
    assert body["exists"] is True and body["e_tag"] and body["last_modified"].endswith("Z")
    assert body["parent"]["id"] == env.id(env.rw) and "alias" not in body
    assert set(body["_links"]) == {"self", "content", "downloads", "copy", "move"}
    sel = await env.json("GET", f"/api/files/{env.id(env.rw / 'page.html')}?fields=name,size", 200, headers={})
    assert sel == {"name": "page.html", "id": env.id(env.rw / "page.html"), "size": 9}
    found = await env.json("GET", f"/api/files?physical_path={env.rw / 'page.html'}", 200)
    assert found["id"] == body["id"]
    await env.json("GET", "/api/files?physical_path=relative/x", 400)
    await env.json("GET", f"/api/files?physical_path={env.rw / 'nope'}", 404)
    await env.json("GET", f"/api/files/{env.id(env.rw / 'nope')}", 404)
    await env.json("GET", "/api/files/not-an-id", 404)


async def test_create_rename_delete(env: FilesEnv) -> None:
    parent = {"id": env.id(env.rw)}
    made = await env.json("POST", "/api/files", 201, json={"parent": parent, "name": "docs", "type": "Directory"})
    assert made["type"] == "directory" and (env.rw / "docs").is_dir()
    new = await env.json("POST", "/api/files", 201, json={
        "parent": {"id": made["id"]}, "name": "a.txt", "type": "file", "last_modified": "2020-01-02T03:04:05Z",
    })
    assert (env.rw / "docs" / "a.txt").read_bytes() == b""
    assert new["last_modified"] == "2020-01-02T03:04:05Z"
    await env.json("POST", "/api/files", 409, json={"parent": {"id": made["id"]}, "name": "a.txt", "type": "file"})
    await env.json("POST", "/api/files", 400, json={"name": "x", "type": "file"})
    await env.json("POST", "/api/files", 400, json={"parent": "x", "name": "x", "type": "file"})
    await env.json("POST", "/api/files", 400, json={"parent": parent, "name": "x", "type": "link"})
    await env.json("POST", "/api/files", 404, json={"parent": {"id": env.id(env.rw / "gone")}, "name": "x",
                                                    "type": "file"})
    async with env.client.patch(f"/api/files/{new['id']}", json={"name": "b.txt"}, headers=HAL) as resp:
        assert resp.status == 209
        renamed = await resp.json(content_type=None)
        assert resp.headers["Location"] == f"/api/files/{renamed['id']}"
    assert renamed["name"] == "b.txt" and (env.rw / "docs" / "b.txt").exists()
    same = await env.json("PATCH", f"/api/files/{renamed['id']}", 200, json={"last_access": "2021-05-05T00:00:00Z"})
    assert same["last_access"] == "2021-05-05T00:00:00Z"
    (env.rw / "docs" / "c.txt").write_text("c")
    await env.json("PATCH", f"/api/files/{renamed['id']}", 409, json={"name": "c.txt"})
    await env.json("DELETE", f"/api/files/{made['id']}", 204)
    assert not (env.rw / "docs").exists()
    await env.json("DELETE", f"/api/files/{made['id']}", 204)


async def test_names_as_upstream(env: FilesEnv) -> None:
    parent = {"id": env.id(env.rw)}
    for good in (".abc", "a.b.c-g_r.z", "é ü 空"):
        await env.json("POST", "/api/files", 201, json={"parent": parent, "name": good, "type": "file"})
    for bad in (".", "..", "abc.", "a/b", "a\\b", "a:b", "a*b", "a?b", 'a"b', "a<b", "a>b", "a|b", "a\x01b", "",
                "x" * 256, "é" * 128):
        await env.json("POST", "/api/files", 400, json={"parent": parent, "name": bad, "type": "file"})
    assert sorted(os.listdir(env.rw)) == sorted([".abc", "a.b.c-g_r.z", "é ü 空"])
