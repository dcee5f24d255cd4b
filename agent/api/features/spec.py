"""FeatureSpec and EntrySpec: the declarative rows that describe one IIS feature section and its child lists.

A row names the section(s), the JSON <-> attribute mappings (agent.api.mapping kinds) and the few upstream
behaviour switches (209 on GET, server as the default scope, install by global module). Sections whose JSON
needs code name a hook from agent.api.features.custom in their row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.api.features.placement import Slot, SplitList, slots
from agent.api.mapping import Attr
from agent.ids import Purpose
from shared.errors import InvalidParameter

if TYPE_CHECKING:
    from agent.api.features.target import Target
    from agent.iisconfig import ConfigElement, ConfigStore

Reader = Callable[["Target"], dict[str, Any]]
"""Extra JSON members of a feature at a target (effective configuration)."""
Writer = Callable[["Target", dict[str, Any]], Callable[[], None] | None]
"""Validates a PATCH body and returns the write to run inside the configuration transaction (or None)."""
EntryCheck = Callable[["Target", dict[str, Any]], dict[str, Any]]
"""Adjusts or rejects the attributes of a new entry before it is added (POST)."""
EntryReader = Callable[["Target", "ConfigElement"], dict[str, Any]]
"""Extra JSON members of one entry (sub-lists, computed members)."""
EntryWriter = Callable[["Target", dict[str, Any], bool], Callable[["ConfigElement"], None] | None]
"""Validates the extra members of a POST (create=True) or PATCH body; returns the write applied to the local entry."""


@dataclass(frozen=True, slots=True)
class Extension:
    """A file extension: shown without its leading dot, stored with it (".txt")."""

    def to_json(self, value: Any) -> Any:
        """".txt" -> "txt"."""
        return str(value or "").removeprefix(".")

    def from_json(self, value: Any, name: str) -> Any:
        """"txt" or ".txt" -> ".txt"."""
        if not isinstance(value, str) or not value.strip().strip("."):
            raise InvalidParameter(name)
        text = value.strip()
        return text if text.startswith(".") else "." + text

    def schema(self) -> dict[str, Any]:
        """A string."""
        return {"type": "string"}


@dataclass(frozen=True, slots=True)
class SectionMap:
    """One configuration section of a feature and the JSON members it holds."""

    section: str
    fields: tuple[Attr, ...] = ()
    revert: bool = True
    """DELETE at a site/app reverts this section (compression leaves httpCompression alone)."""
    guard: bool = True
    """Delegation of this section guards writes (logging writes dontLog only where it may)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EntrySpec:
    """A child collection of a feature, served at /api/webserver/<feature>/<route>."""

    route: str
    plural: str
    purpose: Purpose
    resource: str
    holder: str
    """Path from the section to the element that holds the collection ("" = the section itself)."""
    keys: tuple[Attr, ...]
    """Members whose values identify an entry (and make up its id, before path and site id)."""
    fields: tuple[Attr, ...] = ()
    ref_fields: tuple[str, ...] = ()
    """Members of list items besides id."""
    required: tuple[str, ...] = ()
    conflict: str = ""
    """The `name` of the 409 answered for a duplicate key."""
    first: bool = False
    """New entries go first (default documents), not last."""
    created_status: int = 201
    count: bool = True
    on_create: EntryCheck | None = None
    read: EntryReader | None = None
    write: EntryWriter | None = None
    split: SplitList | None = None
    """A second collection for the entries whose boolean member is true (request filtering: allow)."""
    key_last: bool = False
    """Ids put the key after path and site id (URL rewrite: `path\\nsiteId\\nname`)."""
    section: str = ""
    """The section holding the collection when it is not the feature's first (tracing providers)."""

    @property
    def all_fields(self) -> tuple[Attr, ...]:
        """Key members then the others."""
        return (*self.keys, *self.fields)

    @property
    def slots(self) -> tuple[Slot, ...]:
        """The configuration collections the entries live in."""
        return slots(self.holder, self.keys, self.split)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureSpec:
    """One IIS feature: /api/webserver/<endpoint>[/{id}] and its entries."""

    endpoint: str
    link: str
    """HAL link name on the web server, site and application resources."""
    resource: str
    purpose: Purpose
    sections: tuple[SectionMap, ...]
    """The first section supplies metadata and locking."""
    parent: str = ""
    """Member and query name (`<parent>.id`) children use to point at the feature."""
    member: str = ""
    """The member name in children's bodies when it differs from the query name (tracing: `request_tracing`)."""
    children: tuple[EntrySpec, ...] = ()
    modules: tuple[str, ...] = ()
    """Global modules that must be present (the feature is "installed")."""
    display: str = "Web Server (IIS)"
    installable: bool = False
    install_name: str = ""
    images: tuple[str, ...] = ()
    """DLL file names of `modules`, used when POST installs them."""
    installer_sections: tuple[str, ...] = ()
    """Sections the feature's own installer brings (URL Rewrite's MSI): uninstall drops their server-level content."""
    on_install: Callable[[ConfigStore], None] | None = None
    """What the Windows installer writes besides the modules (tracing: the stock trace providers)."""
    located: bool = True
    """GET without id answers 209 + Location (False: 200)."""
    server_default: bool = False
    """No scope query selects the server level (otherwise 404)."""
    site_required: bool = False
    id_has_local: bool = True
    scopes: str = "any"
    """Where PATCH/DELETE may write: "any", "app" (server, site or application root) or "site"."""
    links_from: tuple[str, ...] = ("webserver", "site", "app")
    read: Reader | None = None
    write: Writer | None = None
    links: Callable[[Target, str], dict[str, str]] | None = None
    output: tuple[str, ...] = ("id", "scope", "metadata")

    @property
    def path(self) -> str:
        """The collection URL of the feature."""
        return f"/api/webserver/{self.endpoint}"

    @property
    def parent_member(self) -> str:
        """The member children carry the feature reference in."""
        return self.member or self.parent

    @property
    def section(self) -> str:
        """The primary section path."""
        return self.sections[0].section if self.sections else ""


def holder_of(element: ConfigElement, path: str) -> ConfigElement:
    """Follow `a/b` child names down from a section view."""
    for part in (p for p in path.split("/") if p):
        element = element.child(part)
    return element
