"""Roles and label scopes of operator keys, and the one table of agent paths that need more than a role.

viewer < operator < admin. Each controller route row declares the role it needs (controller/api/routes.py);
gateway calls and `iis.request` jobs need the role GATEWAY_RULES gives their method and agent path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_RANK = {role: rank for rank, role in enumerate(ROLES)}
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def allows(held: Role, needed: Role) -> bool:
    """Whether a key with role `held` may do what needs `needed`."""
    return _RANK[held] >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class PathRule:
    """Agent paths under `prefix` (the prefix itself included): the role reads and writes need."""

    prefix: str
    read: Role
    write: Role


# First match wins; paths are normalised (controller/auth/paths.py) before they are looked up.
GATEWAY_RULES: tuple[PathRule, ...] = (
    PathRule("/security", read="admin", write="admin"),  # API keys and access tokens of the agent
    # Renewing "this request's" token renews the controller's own key (the agent refuses it too): docs/security.md
    PathRule("/api/access-token", read="viewer", write="admin"),
    PathRule("/api/files/locations", read="viewer", write="admin"),  # what the file API may reach on disk
    PathRule("/", read="viewer", write="operator"),
)


def agent_path_role(method: str, path: str) -> Role:
    """The role a call with this method to this (normalised) agent path needs (prefixes match in any case)."""
    path = path.lower()
    for rule in GATEWAY_RULES:
        if path == rule.prefix or path.startswith(rule.prefix.rstrip("/") + "/"):
            return rule.read if method.upper() in READS else rule.write
    return "admin"


def in_scope(scope: Mapping[str, str], labels: Mapping[str, object]) -> bool:
    """Whether an agent with these labels is inside a key's label scope (an empty scope holds every agent)."""
    return all(labels.get(key) == value for key, value in scope.items())


def selector_within(scope: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether every agent a label selector could ever match is inside the scope (it pins each scope label)."""
    return all(selector.get(key) == value for key, value in scope.items())
