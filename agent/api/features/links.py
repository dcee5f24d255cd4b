"""Feature `_links` for the web server, site and application resources."""

from __future__ import annotations

from agent.api.context import Ctx
from agent.api.features.routes import DELEGATION, GLOBAL
from agent.api.features.table import FEATURES
from agent.api.features.target import Target
from agent.api.refs import site_id
from agent.iisconfig import ConfigElement


def feature_links(ctx: Ctx, site: ConfigElement | None, path: str, level: str) -> dict[str, str]:
    """Link name -> feature URL with the id computed for this level ("webserver", "site" or "app")."""
    links = {spec.link: Target(ctx, spec, site, path).href() for spec in FEATURES if level in spec.links_from}
    if level == "webserver":
        links["global_modules"] = GLOBAL
        links["delegation"] = DELEGATION
    elif level == "site" and site is not None:
        links["delegation"] = f"{DELEGATION}?website.id={site_id(ctx, site)}"
    return links
