"""Target: one feature at one configuration path (server, site root, application or directory).

Resolves the scope query and feature ids, computes metadata (is_local, is_locked, override modes) and
hands out the effective (read) and location (write) views of the feature's sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.api.context import Ctx
from agent.api.features.spec import FeatureSpec
from agent.api.http import Nested
from agent.api.refs import find_app, find_site, site_nested
from agent.api.scope import site_from_scope, split_scope
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import site_key
from shared.errors import InvalidParameter, Locked, NotFound

GLOBAL_MODULES = "system.webServer/globalModules"


@dataclass(slots=True)
class Target:
    """A feature at a site (None = server) and virtual path ("" at server, "/" for a site root)."""

    ctx: Ctx
    spec: FeatureSpec
    site: ConfigElement | None
    path: str

    @property
    def site_name(self) -> str:
        """The site's name ("" at server level)."""
        return str(self.site.get("name")) if self.site is not None else ""

    @property
    def site_key(self) -> str:
        """The IIS site id as text ("" at server level)."""
        return str(site_key(self.site)) if self.site is not None else ""

    @property
    def location(self) -> str:
        """The <location path> of this level: "", "Site" or "Site/app/dir"."""
        if self.site is None:
            return ""
        return f"{self.site_name}/{self.path.strip('/')}".rstrip("/")

    @property
    def scope(self) -> str:
        """The `scope` member: "" at server, else site name + path ("Site/" for the root)."""
        return f"{self.site_name}{self.path}" if self.site is not None else ""

    def effective(self, section: str | None = None) -> ConfigElement:
        """Read-only merged view of a section at this path."""
        return self.ctx.store.effective_section(section or self.spec.section, self.location)

    def local(self, section: str | None = None) -> ConfigElement:
        """The writable section at exactly this level (created on first write)."""
        return self.ctx.store.section(section or self.spec.section, self.location)

    def is_local(self, section: str | None = None) -> bool:
        """True when the section is stored at exactly this level."""
        return bool(self.spec.sections) and self.local(section).exists

    def is_locked(self, section: str | None = None) -> bool:
        """True when a parent level's delegation denies defining the section here."""
        name = section or self.spec.section
        if not self.location or not name:
            return False
        parent = self.location.rpartition("/")[0]
        return self.ctx.store.effective_override_mode(name, parent) == "deny"

    def check_readable(self) -> None:
        """403 when the section is stored here although delegation no longer allows it (IIS refuses it)."""
        for entry in self.spec.sections:
            if self.is_local(entry.section) and self.is_locked(entry.section):
                raise Locked(name=entry.section)

    def check_writable(self) -> None:
        """403 when a section of the feature may not be configured at this level."""
        for entry in self.spec.sections:
            if entry.guard and self.is_locked(entry.section):
                raise Locked(name=entry.section)

    def metadata(self) -> dict[str, Any]:
        """{is_local, is_locked, override_mode, override_mode_effective} of the primary section."""
        name = self.spec.section
        store = self.ctx.store
        return {
            "is_local": any(self.is_local(s.section) for s in self.spec.sections),
            "is_locked": self.is_locked(),
            "override_mode": store.override_mode(name, self.location),
            "override_mode_effective": store.effective_override_mode(name, self.location),
        }

    def feature_id(self) -> str:
        """`path\\nsiteId[\\nisLocal]` encrypted with the feature's purpose."""
        parts = [self.path, self.site_key]
        if self.spec.id_has_local:
            parts.append("1" if any(self.is_local(s.section) for s in self.spec.sections) else "0")
        return self.ctx.codec.encode(self.spec.purpose, "\n".join(parts))

    def href(self) -> str:
        """The feature resource's URL."""
        return f"{self.spec.path}/{self.feature_id()}"

    def website(self) -> Nested | None:
        """The site reference (expanded under dotted `fields=website.*`), or null at server level."""
        return site_nested(self.ctx, self.site) if self.site is not None else None

    def ref(self) -> dict[str, Any]:
        """`{id, scope, _links.self}`: how entries point at their feature."""
        out: dict[str, Any] = {"id": self.feature_id(), "scope": self.scope}
        if self.ctx.hal:
            out["_links"] = {"self": {"href": self.href()}}
        return out


def require_modules(ctx: Ctx, spec: FeatureSpec) -> None:
    """404 "IIS feature not installed" when a global module the feature needs is missing."""
    modules = ctx.store.section(GLOBAL_MODULES).collection()
    if len(modules) == 0:
        raise NotFound(name="Web Server (IIS)", detail="IIS feature not installed")
    if any(modules.find(name=name) is None for name in spec.modules):
        raise NotFound(name=spec.display, detail="IIS feature not installed")


def from_query(ctx: Ctx, spec: FeatureSpec, request: web.Request) -> Target:
    """The target a GET without id selects (webapp.id, website.id, scope; else server or 404)."""
    query = request.query
    if "webapp.id" in query and spec.scopes != "site":
        site, app = find_app(ctx, query["webapp.id"])
        return _checked(Target(ctx, spec, site, str(app.get("path"))))
    if "website.id" in query:
        site = find_site(ctx, query["website.id"])
        path = split_scope(query["scope"])[1] if "scope" in query else "/"  # upstream quirk: scope picks the path
        return _checked(Target(ctx, spec, site, path))
    if "scope" in query:
        scope = query["scope"]
        if not scope.strip().strip("/"):
            return _checked(Target(ctx, spec, None, ""))
        return _checked(Target(ctx, spec, site_from_scope(ctx, scope), split_scope(scope)[1]))
    if spec.parent == "url_rewrite" and "url_rewrite.id" in query:  # the URL rewrite sections take the feature id
        target = from_id(ctx, spec, query["url_rewrite.id"])
        assert target is not None
        return target
    if spec.server_default:
        return _checked(Target(ctx, spec, None, ""))
    raise NotFound()


def _checked(target: Target) -> Target:
    if target.spec.site_required and target.site is None:
        raise NotFound()
    return target


def from_id(ctx: Ctx, spec: FeatureSpec, feature_id: str, *, missing_ok: bool = False) -> Target | None:
    """The target an id names; 404 for a bad id or a deleted site (None with missing_ok)."""
    count = 3 if spec.id_has_local else 2
    path, key = ctx.codec.decode_parts(spec.purpose, feature_id, count)[:2]
    if not key:
        return _checked(Target(ctx, spec, None, ""))
    site = ctx.index.site(int(key)) if key.isdigit() else None
    if site is None:
        if missing_ok:
            return None
        raise NotFound(name="site")
    return _checked(Target(ctx, spec, site, path or "/"))


def check_config_scope(target: Target, body: dict[str, Any] | None, request: web.Request) -> None:
    """Validate `config_scope` (body, then query) by upstream's prefix rules; storage is always a location tag."""
    raw: Any = body.get("config_scope") if body is not None and "config_scope" in body else None
    if raw is None:
        raw = request.query.get("config_scope")
    if raw is None or raw == "":
        return
    if not isinstance(raw, str) or target.site is None:
        raise InvalidParameter("config_scope")
    wanted = raw.strip().strip("/").lower()
    full = target.scope.strip("/").lower()
    if not wanted.split("/")[0] == target.site_name.lower() or not (full + "/").startswith(wanted + "/"):
        raise InvalidParameter("config_scope")


def check_scope_allowed(target: Target) -> None:
    """403 "Scope is not allowed" for levels a feature cannot be written at (modules, logging)."""
    if target.site is None or target.spec.scopes == "any" or target.path == "/":
        return
    if target.spec.scopes == "app" and target.site.collection().find(path=target.path) is not None:
        return
    raise ScopeNotAllowed(scope=target.scope)


class ScopeNotAllowed(Locked):
    """A feature written at a level it does not support."""

    title = "Scope is not allowed"
