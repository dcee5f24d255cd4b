"""Ids, reference objects and lookups of sites, pools and applications, shared by their resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.context import Ctx
from agent.api.http import FieldSelection, Nested
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import site_key
from shared.errors import InvalidParameter, NotFound

SITES_PATH = "/api/webserver/websites"
POOLS_PATH = "/api/webserver/application-pools"
WEBAPPS_PATH = "/api/webserver/webapps"
VDIRS_PATH = "/api/webserver/virtual-directories"


def site_id(ctx: Ctx, site: ConfigElement) -> str:
    """The opaque id of a site."""
    return ctx.codec.encode(Purpose.SITE, str(site_key(site)))


def pool_id(ctx: Ctx, pool_name: str) -> str:
    """The opaque id of a pool."""
    return ctx.codec.encode(Purpose.APP_POOL, pool_name)


def app_id(ctx: Ctx, site: ConfigElement, app: ConfigElement) -> str:
    """The opaque id of an application."""
    return ctx.codec.encode(Purpose.APPLICATION, f"{site_key(site)}\n{app.get('path')}")


Expander = Callable[[Ctx, Any, FieldSelection], dict[str, Any]]
"""(context, item, sub-selection) -> the referenced resource's model narrowed to that selection."""
MODELS: dict[Purpose, Expander] = {}
"""The models nested references expand into, per purpose; filled from NESTED_MODELS in agent/api/routes.py."""


def _nested(ctx: Ctx, purpose: Purpose, item: Any, ref: dict[str, Any]) -> Nested:
    def expand(selection: FieldSelection) -> dict[str, Any]:
        model = MODELS.get(purpose)
        return ref if model is None else model(ctx, item, selection)

    return Nested(ref, expand)


def _with_self(ctx: Ctx, ref: dict[str, Any], href: str) -> dict[str, Any]:
    if ctx.hal:
        ref["_links"] = {"self": {"href": href}}
    return ref


def site_ref(ctx: Ctx, site: ConfigElement) -> dict[str, Any]:
    """`{name, id, status}` of a site."""
    sid = site_id(ctx, site)
    name = str(site.get("name"))
    return _with_self(ctx, {"name": name, "id": sid, "status": ctx.host.site_status(name).value}, f"{SITES_PATH}/{sid}")


def pool_ref(ctx: Ctx, pool: ConfigElement) -> dict[str, Any]:
    """`{name, id, status}` of a pool."""
    name = str(pool.get("name"))
    pid = pool_id(ctx, name)
    return _with_self(ctx, {"name": name, "id": pid, "status": ctx.host.pool_status(name).value}, f"{POOLS_PATH}/{pid}")


def site_nested(ctx: Ctx, site: ConfigElement) -> Nested:
    """A site as a nested member: its reference, or its model under dotted `fields=` (`website.bindings`)."""
    return _nested(ctx, Purpose.SITE, site, site_ref(ctx, site))


def pool_nested(ctx: Ctx, pool: ConfigElement) -> Nested:
    """A pool as a nested member (`application_pool.identity`)."""
    return _nested(ctx, Purpose.APP_POOL, pool, pool_ref(ctx, pool))


def app_nested(ctx: Ctx, site: ConfigElement, app: ConfigElement) -> Nested:
    """An application as a nested member (`webapp.physical_path`)."""
    return _nested(ctx, Purpose.APPLICATION, (site, app), app_ref(ctx, site, app))


def app_location(site: ConfigElement, app: ConfigElement) -> str:
    """"Site Name/app" (the root application is "Site Name/")."""
    path = str(app.get("path"))
    return f"{site.get('name')}{path}"


def app_ref(ctx: Ctx, site: ConfigElement, app: ConfigElement) -> dict[str, Any]:
    """`{location, id, path}` of an application."""
    aid = app_id(ctx, site, app)
    ref = {"location": app_location(site, app), "id": aid, "path": str(app.get("path"))}
    return _with_self(ctx, ref, f"{WEBAPPS_PATH}/{aid}")


def root_app(site: ConfigElement) -> ConfigElement | None:
    """The application at "/" of a site."""
    return site.collection().find(path="/")


def root_vdir(app: ConfigElement) -> ConfigElement | None:
    """The virtual directory at "/" of an application."""
    return app.collection().find(path="/")


def find_site(ctx: Ctx, resource_id: str) -> ConfigElement:
    """The site behind an id; 404 when the id does not decode or the site is gone."""
    key = ctx.codec.decode(Purpose.SITE, resource_id)
    site = ctx.index.site(int(key)) if key.isdigit() else None
    if site is None:
        raise NotFound(name="site")
    return site


def find_pool(ctx: Ctx, resource_id: str) -> ConfigElement:
    """The pool behind an id; 404 when unknown."""
    pool = ctx.index.pool(ctx.codec.decode(Purpose.APP_POOL, resource_id))
    if pool is None:
        raise NotFound(name="application_pool")
    return pool


def find_app(ctx: Ctx, resource_id: str) -> tuple[ConfigElement, ConfigElement]:
    """The (site, application) behind an application id; 404 when unknown."""
    key, path = ctx.codec.decode_parts(Purpose.APPLICATION, resource_id, 2)
    site = ctx.index.site(int(key)) if key.isdigit() else None
    app = site.collection().find(path=path) if site is not None else None
    if site is None or app is None:
        raise NotFound(name="webapp")
    return site, app


def reference_id(body: dict[str, Any], member: str) -> str | None:
    """The `id` of a nested reference member such as `application_pool: {"id": ...}`; None when absent."""
    if member not in body or body[member] is None:
        return None
    ref = body[member]
    if not isinstance(ref, dict):
        raise InvalidParameter(member)
    if not isinstance(ref.get("id"), str) or not ref["id"]:
        raise InvalidParameter(f"{member}.id")
    return str(ref["id"])
