"""Small helpers over the agent's IIS Administration API: find sites and pools, make directories."""

from __future__ import annotations

import ntpath
import posixpath
from types import ModuleType
from typing import Any
from urllib.parse import quote

from controller.services.agent_client import AgentClient, PermanentError

SITES = "/api/webserver/websites"
POOLS = "/api/webserver/application-pools"
WEBAPPS = "/api/webserver/webapps"
FILES = "/api/files"


def pathmod(path: str) -> ModuleType:
    """ntpath for Windows-looking agent paths, posixpath otherwise."""
    return ntpath if "\\" in path or (len(path) > 1 and path[1] == ":") else posixpath


async def _named(client: AgentClient, collection: str, key: str, name: str) -> dict[str, Any] | None:
    _status, body = await client.call("GET", collection)
    for item in body.get(key, []) if isinstance(body, dict) else []:
        if str(item.get("name", "")).lower() == name.lower():
            _status, full = await client.call("GET", f"{collection}/{item['id']}")
            return dict(full)
    return None


async def find_site(client: AgentClient, name: str) -> dict[str, Any] | None:
    """The full model of the site called `name`, or None."""
    return await _named(client, SITES, "websites", name)


async def require_site(client: AgentClient, name: str) -> dict[str, Any]:
    """The site called `name`; a PermanentError when the agent has none."""
    site = await find_site(client, name)
    if site is None:
        raise PermanentError(f"{client.name} has no site named {name!r}")
    return site


async def find_pool(client: AgentClient, name: str) -> dict[str, Any] | None:
    """The full model of the application pool called `name`, or None."""
    return await _named(client, POOLS, "app_pools", name)


async def require_pool(client: AgentClient, name: str) -> dict[str, Any]:
    """The pool called `name`; a PermanentError when the agent has none."""
    pool = await find_pool(client, name)
    if pool is None:
        raise PermanentError(f"{client.name} has no application pool named {name!r}")
    return pool


async def set_status(client: AgentClient, collection: str, item: dict[str, Any], status: str) -> dict[str, Any]:
    """PATCH `{"status": ...}` on a site or pool; returns the new model."""
    _status, body = await client.call("PATCH", f"{collection}/{item['id']}", body={"status": status})
    return dict(body)


async def file_by_path(client: AgentClient, path: str) -> dict[str, Any] | None:
    """The /api/files model of a physical path, or None when it does not exist."""
    status, body = await client.call("GET", f"{FILES}?physical_path={quote(path, safe='')}", allow=(404,))
    return dict(body) if status == 200 else None


async def ensure_dir(client: AgentClient, path: str) -> dict[str, Any]:
    """Create a directory (and missing parents) through the files API; returns its model."""
    found = await file_by_path(client, path)
    if found is not None:
        if found.get("type") != "directory":
            raise PermanentError(f"{path} on {client.name} exists and is not a directory")
        return found
    paths = pathmod(path)
    parent, name = paths.split(path.rstrip("\\/"))
    if not name or parent == path:
        raise PermanentError(f"{client.name}: no writable file location contains {path}")
    parent_model = await ensure_dir(client, parent)
    status, body = await client.call(
        "POST", FILES, body={"parent": {"id": parent_model["id"]}, "name": name, "type": "directory"}, allow=(409,)
    )
    if status == 409:
        again = await file_by_path(client, path)
        if again is None:
            raise PermanentError(f"{client.name} refused to create {path}")
        return again
    return dict(body)


async def writable_root(client: AgentClient) -> str:
    """The physical path of the first file location the API may write to."""
    _status, body = await client.call("GET", FILES)
    for item in body.get("files", []) if isinstance(body, dict) else []:
        _status, full = await client.call("GET", f"{FILES}/{item['id']}")
        if "write" in (full.get("claims") or []):
            return str(full["physical_path"])
    raise PermanentError(f"{client.name} has no writable file location; give params.physical_path")


async def find_app(client: AgentClient, site: dict[str, Any], app_path: str) -> dict[str, Any]:
    """The application at `app_path` of a site (its root application for "/")."""
    _status, body = await client.call("GET", f"{WEBAPPS}?website.id={site['id']}")
    for item in body.get("webapps", []) if isinstance(body, dict) else []:
        if str(item.get("path", "")).rstrip("/") == app_path.rstrip("/"):
            _status, full = await client.call("GET", f"{WEBAPPS}/{item['id']}")
            return dict(full)
    raise PermanentError(f"site {site['name']!r} on {client.name} has no application at {app_path!r}")
