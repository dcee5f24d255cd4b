"""UrlAuthorizationModule: system.webServer/security/authorization allow/deny by users, roles and verbs.

IIS's rule order ("deny rules get precedence, parent rules first", unlike ASP.NET's first-match
in file order): the effective rules of the request's path (parents' first, as the merged collection lists
them), every Deny before any Allow. The first rule that matches the user and the verb decides; none matching
denies. users "*" is everyone, "?" the anonymous user, other names compare case-insensitively; roles are the
user's Unix groups (primary and supplementary). A denial answers 401.2, as IIS's URL authorization does.
Group membership is cached for GROUP_TTL seconds. A section with no rules at all allows everyone (what the
stock IIS file's `Allow *` does; a config written before that rule was stock has none).
"""

from __future__ import annotations

import grp
import os
import pwd
import time
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/security/authorization"
GROUP_TTL = 60.0


@dataclass(frozen=True, slots=True)
class AuthzRule:
    """One <add>: Allow or Deny, lower-case names, upper-case verbs (empty = all)."""

    allow: bool
    users: frozenset[str]
    roles: frozenset[str]
    verbs: frozenset[str]


ALLOW_ALL = (AuthzRule(True, frozenset({"*"}), frozenset(), frozenset()),)


def _names(value: Any) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in str(value or "").split(",") if part.strip())


def load(section: Any) -> tuple[AuthzRule, ...]:
    """The effective rules at one level, in configuration order."""
    return tuple(
        AuthzRule(str(r.get("accessType")) == "Allow", _names(r.get("users")), _names(r.get("roles")),
                  frozenset(v.upper() for v in _names(r.get("verbs"))))
        for r in section.collection()
    )  # fmt: skip


def ordered(section: Any) -> tuple[AuthzRule, ...] | None:
    """The effective rules in evaluation order: every Deny, then every Allow, each parents first (the merged
    collection's order); None when there are no rules at all."""
    rules = load(section)
    return tuple([r for r in rules if not r.allow] + [r for r in rules if r.allow]) or None


class UrlAuthorizationModule:
    """Applies the authorization rules after authentication."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def idle(self, ctx: HttpContext) -> bool:
        """Everyone is allowed everything (no rules, or the stock `Allow *` alone)."""
        return ctx.settings(SECTION, ordered) in (None, ALLOW_ALL)

    def authorize_request(self, ctx: HttpContext) -> None:
        """Deny with 401.2 unless the first matching rule allows."""
        rules = ctx.settings(SECTION, ordered)
        if rules is None:
            return
        if rules != ALLOW_ALL:
            ctx.kernel_cacheable = False  # the answer depends on who asks
        user = ctx.user.lower()
        verb = ctx.request.method.upper()
        groups: frozenset[str] | None = None
        for rule in rules:
            if rule.verbs and verb not in rule.verbs:
                continue
            matched = "*" in rule.users or ("?" in rule.users and not user) or (bool(user) and user in rule.users)
            if not matched and rule.roles and user:
                groups = self.groups(ctx.user) if groups is None else groups
                matched = bool(rule.roles & groups)
            if matched:
                if not rule.allow:
                    ctx.error(401, 2)
                return
        ctx.error(401, 2)

    def groups(self, user: str) -> frozenset[str]:
        """The user's Unix group names, lower-case (empty for an unknown user)."""
        cached = self._groups.get(user)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            entry = pwd.getpwnam(user)
            ids = os.getgrouplist(user, entry.pw_gid)
        except (KeyError, OSError):
            ids = []
        names = set()
        for gid in ids:
            try:
                names.add(grp.getgrgid(gid).gr_name.lower())
            except KeyError:
                continue
        found = frozenset(names)
        if len(self._groups) > 1024:
            self._groups.clear()
        self._groups[user] = (now + GROUP_TTL, found)
        return found
