"""/api/webserver/files: a site's virtual tree with applications and virtual directories, linked to /api/files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.ids import IdCodec, Purpose
from agent.iisconfig import ConfigStore, write_stock_config
from agent.keys import ID_CODEC
from tests.agent.files.conftest import Client, FilesEnv, build_files_app, write_settings

SITES = "system.applicationHost/sites"


@pytest.fixture
async def site_env(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> FilesEnv:
    """Default Web Site on rw/wwwroot, an application /app1 on rw/app1, vdirs /images and /app1/docs."""
    state, rw, ro, outside = (tmp_path / n for n in ("state", "rw", "ro", "outside"))
    for path in (state, rw, ro, outside):
        path.mkdir()
    settings = write_settings(state, [{"alias": "rw", "path": str(rw), "claims": ["read", "write"]}])
    write_stock_config(state / "applicationHost.config", rw / "wwwroot")
    for d in ("dir1", "dir2", "images"):
        (rw / "wwwroot" / d).mkdir()
    for f in ("b.txt", "a.txt"):
        (rw / "wwwroot" / f).write_text(f)
    (rw / "wwwroot" / "dir1" / "inner.txt").write_text("inner")
    for d in ("app1", "imgs", "docs"):
        (rw / d).mkdir()
    (rw / "imgs" / "logo.png").write_bytes(b"png")
    (outside / "secret").mkdir()
    store = ConfigStore(state / "applicationHost.config")
    store.load()
    with store.write_sync() as cfg:
        site = cfg.section(SITES).collection().find(name="Default Web Site")
        assert site is not None
        root = site.collection().find(path="/")
        assert root is not None
        root.collection().add({"path": "/images", "physicalPath": str(rw / "imgs")})
        root.collection().add({"path": "/hidden", "physicalPath": str(outside / "secret")})
        app = site.collection().add({"path": "/app1", "applicationPool": "DefaultAppPool"})
        app.collection().add({"path": "/", "physicalPath": str(rw / "app1")})
        app.collection().add({"path": "/docs", "physicalPath": str(rw / "docs")})
    app_ = build_files_app(state, settings, store)
    client = await aiohttp_client(app_)
    return FilesEnv(state, rw, ro, outside, app_, client)


def web_id(env: FilesEnv, path: str, key: int = 1) -> str:
    """The id of a virtual path of site `key`."""
    codec: IdCodec = env.app[ID_CODEC]
    return codec.encode(Purpose.WEBSERVER_FILE, f"{path}\n{key}")


def site_id(env: FilesEnv, key: int = 1) -> str:
    """The id of a site."""
    return env.app[ID_CODEC].encode(Purpose.SITE, str(key))


async def test_root_listing_merges_virtual_entries(site_env: FilesEnv) -> None:
    env = site_env
    root = await env.json("GET", f"/api/webserver/files?path=/&website.id={site_id(env)}", 200)
    assert root["type"] == "application" and root["name"] == "" and root["parent"] is None
    assert root["file_info"]["id"] == env.id(env.rw / "wwwroot")
    assert root["website"]["name"] == "Default Web Site"
    assert root["_links"]["files"]["href"] == f"/api/webserver/files?parent.id={root['id']}"
    async with env.client.get(f"/api/webserver/files?parent.id={root['id']}") as resp:
        listing = await resp.json(content_type=None)
        assert resp.headers["X-Total-Count"] == str(len(listing["files"]))
    names = [(f["name"], f["type"]) for f in listing["files"]]
    assert names == [("app1", "application"), ("dir1", "directory"), ("dir2", "directory"), ("hidden", "vdir"),
                     ("images", "vdir"), ("a.txt", "file"), ("b.txt", "file"), ("iisstart.htm", "file")]
    listed = {f["name"]: f for f in (await env.json(
        "GET", f"/api/webserver/files?parent.id={root['id']}&fields=name,file_info", 200))["files"]}
    assert listed["hidden"]["file_info"] is None  # a vdir outside the locations is listed without file_info
    assert listed["images"]["file_info"]["physical_path"] == str(env.rw / "imgs")
    async with env.client.get(f"/api/webserver/files?parent.id={root['id']}", headers={"Range": "files=2-5"}) as resp:
        assert resp.headers["Content-Range"] == "2-5/8"
        assert len((await resp.json(content_type=None))["files"]) == 4
    await env.json("GET", f"/api/webserver/files?parent.id={root['id']}&name=a/", 400)


async def test_vdirs_apps_and_nested_paths(site_env: FilesEnv) -> None:
    env = site_env
    images = await env.json("GET", f"/api/webserver/files/{web_id(env, '/images')}", 200)
    assert images["type"] == "vdir" and images["path"] == "/images"
    assert images["file_info"]["physical_path"] == str(env.rw / "imgs")
    assert images["parent"]["path"] == "/"
    children = await env.json("GET", f"/api/webserver/files?parent.id={images['id']}", 200)
    assert [f["path"] for f in children["files"]] == ["/images/logo.png"]
    app1 = await env.json("GET", f"/api/webserver/files?path=/APP1&website.id={site_id(env)}", 200)
    assert app1["type"] == "application" and app1["file_info"]["physical_path"] == str(env.rw / "app1")
    docs = await env.json("GET", f"/api/webserver/files?parent.id={app1['id']}", 200)
    assert [(f["name"], f["type"]) for f in docs["files"]] == [("app1/docs", "vdir")]
    inner = await env.json("GET", f"/api/webserver/files?path=/dir1/inner.txt&website.id={site_id(env)}", 200)
    assert inner["type"] == "file" and inner["parent"]["path"] == "/dir1"
    assert set(inner["_links"]) == {"self"}
    assert inner["file_info"]["id"] == env.id(env.rw / "wwwroot" / "dir1" / "inner.txt")
    await env.json("GET", f"/api/webserver/files?path=/nothing&website.id={site_id(env)}", 404)
    await env.json("GET", f"/api/webserver/files?path=relative&website.id={site_id(env)}", 400)
    await env.json("GET", "/api/webserver/files?path=/", 404)
    # `..` cannot climb out of the site: the path is normalised to /outside under the site root.
    await env.json("GET", f"/api/webserver/files?path=/../../outside&website.id={site_id(env)}", 404)


async def test_outside_vdir_is_forbidden_and_collection_is_read_only(site_env: FilesEnv) -> None:
    env = site_env
    await env.json("GET", f"/api/webserver/files/{web_id(env, '/hidden')}", 403)
    await env.json("GET", f"/api/webserver/files?parent.id={web_id(env, '/hidden')}", 403)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        async with env.client.request(method, "/api/webserver/files") as resp:
            assert resp.status == 405
    await env.json("GET", f"/api/webserver/files/{web_id(env, '/', key=99)}", 404)
    await env.json("GET", "/api/webserver/files/garbage", 404)


async def test_file_info_leads_to_files_api(site_env: FilesEnv) -> None:
    env = site_env
    root: dict[str, Any] = await env.json("GET", f"/api/webserver/files?path=/&website.id={site_id(env)}", 200)
    directory = await env.json("GET", root["file_info"]["_links"]["self"]["href"], 200)
    made = await env.json("POST", "/api/files", 201, json={"parent": directory, "name": "new.txt", "type": "file"})
    listing = await env.json("GET", f"/api/webserver/files?parent.id={root['id']}", 200)
    assert "new.txt" in [f["name"] for f in listing["files"]]
    async with env.client.put(f"/api/files/content/{made['id']}", data=b"hello") as resp:
        assert resp.status == 200
    assert (env.rw / "wwwroot" / "new.txt").read_bytes() == b"hello"
