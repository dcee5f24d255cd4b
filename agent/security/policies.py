"""Access policies (reference 9.7): which policy guards a path and what it demands.

Identity on hosts without Windows authentication (this agent everywhere but an `iis` backend with
Windows auth, which it does not implement): there is never a Windows identity, so a valid access
token *is* the identity and satisfies the `users` roles of every policy. `api_keys` says
`access_key: false` upstream only because Windows authentication protects it; here a valid token is
required for it too, otherwise anybody who can reach the port could mint keys. The first key is
made out of band with `iisfleet agent key create`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.settings import AccessPolicy, SecuritySettings

API = "api"
API_KEYS = "api_keys"
SYSTEM = "system"

# Only what upstream leaves open (its ping page) plus /ping for browsers accepting the certificate.
PUBLIC_PATHS = frozenset({"/api/ping", "/ping"})
PUBLIC_PREFIXES = ("/downloads/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_DEFAULTS = {
    API: AccessPolicy(users="administrators", access_key=True),
    API_KEYS: AccessPolicy(users="administrators", access_key=False),
    SYSTEM: AccessPolicy(users="owners", access_key=True),
}


MAX_PATHS = 8192
"""Paths whose policy is remembered (policy_name)."""
_NAMES: dict[str, str | None] = {}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def policy_name(path: str) -> str | None:
    """The policy that guards `path`, or None for public paths (memoised per path: asked on every request)."""
    # Keyed by the path, not the route: one dynamic route can serve paths under different policies
    # (DELETE /api/files/locations resolves to /api/files/{id}, yet is guarded by `system`).
    try:
        return _NAMES[path]
    except KeyError:
        pass
    if len(_NAMES) >= MAX_PATHS:
        _NAMES.clear()  # ids make paths unbounded; start over rather than grow
    name = _NAMES[path] = _policy_name(path)
    return name


def _policy_name(path: str) -> str | None:
    # Matching is case-insensitive like upstream's routing; a trailing slash does not change the policy.
    lowered = path.lower()
    trimmed = lowered.rstrip("/") or "/"
    if trimmed in PUBLIC_PATHS or lowered.startswith(PUBLIC_PREFIXES):
        return None
    if _under(trimmed, "/security"):
        return API_KEYS
    if _under(trimmed, "/api/files/locations"):
        return SYSTEM
    return API


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a policy asks of one request, in upstream's evaluation order."""

    forbidden: bool
    token: bool
    read_only: bool


def requirement(settings: SecuritySettings, name: str) -> Requirement:
    """The effective requirement of policy `name` on this host (always a token, see the module doc)."""
    memo = _MEMO.get(name)
    if memo is not None and memo[0] is settings:
        return memo[1]  # asked on every request: built once per settings object
    policy = settings.access_policy.get(name) or _DEFAULTS[name]
    need = Requirement(forbidden=policy.forbidden, token=True, read_only=policy.read_only)
    _MEMO[name] = (settings, need)
    return need


_MEMO: dict[str, tuple[SecuritySettings, Requirement]] = {}
