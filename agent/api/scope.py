"""`scope=` selectors: "Site Name" or "Site Name/app/path"."""

from __future__ import annotations

from agent.api.context import Ctx
from agent.iisconfig import ConfigElement
from shared.errors import ApiError


class ScopeNotFound(ApiError):
    """A scope that names no site."""

    status = 400
    title = "Scope not found"


def split_scope(scope: str) -> tuple[str, str]:
    """"Site/app/dir" -> ("Site", "/app/dir")."""
    site_name, _, rest = scope.strip().strip("/").partition("/")
    return site_name, "/" + rest.strip("/")


def site_from_scope(ctx: Ctx, scope: str) -> ConfigElement:
    """The site a scope names; 400 `Scope not found` when there is none."""
    site_name, _path = split_scope(scope)
    site = ctx.index.site_named(site_name)
    if site is None:
        raise ScopeNotFound(scope=scope)
    return site


def app_from_scope(ctx: Ctx, scope: str) -> tuple[ConfigElement, ConfigElement]:
    """The site and the application (exact path, else the root) a scope names."""
    site = site_from_scope(ctx, scope)
    _site_name, path = split_scope(scope)
    app = site.collection().find(path=path) or site.collection().find(path="/")
    if app is None:
        raise ScopeNotFound(scope=scope)
    return site, app
