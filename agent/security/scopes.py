"""Scopes of agent API keys: which access policies a key may satisfy (an IIS Fleet addition).

Upstream has no scopes: any valid token satisfies every policy. Here a key carries one of:

- `system`: every policy, as upstream. Keys made locally (`iisfleet agent key create`, POST
  /security/api-keys, appsettings) get it unless told otherwise, so local use is unchanged.
- `api`: the `api` policy only; no file locations (`system`) and no key management (`api_keys`).
- `controller`: the reach of `api`, and the one identity allowed to name an operator in
  X-IISFleet-Operator. The key an agent hands its controller at enrollment has it, so a stolen
  controller (or its gateway) cannot open a files location at `/` or mint keys on the agent.
  Nor may it renew its own token (POST /api/access-token): the answer would hand the controller's key
  to whoever made the controller send the call, and kill the copy the controller keeps.
"""

from __future__ import annotations

import logging

from agent.security.policies import API
from shared.errors import Forbidden

SYSTEM = "system"
API_ONLY = "api"
CONTROLLER = "controller"
SCOPES = (SYSTEM, API_ONLY, CONTROLLER)
DEFAULT = SYSTEM

CONTROLLER_PURPOSE_PREFIX = "iisfleet controller "
"""The purpose enrollment gives the controller's key (`iisfleet controller <url>`)."""

log = logging.getLogger("iisfleet.agent.security")

_REACH: dict[str, frozenset[str]] = {
    API_ONLY: frozenset({API}),
    CONTROLLER: frozenset({API}),
}


def allows(scope: str, policy: str) -> bool:
    """Whether a key of `scope` may satisfy access policy `policy`; unknown scopes reach nothing."""
    if scope == SYSTEM:
        return True
    return policy in _REACH.get(scope, frozenset())


def require_scope(key_id: str, scope: str, policy: str) -> None:
    """Raise Forbidden (403, upstream body) when a key of `scope` may not satisfy `policy`."""
    if not allows(scope, policy):
        log.warning("refused key %s: its scope %r does not reach policy %r", key_id, scope, policy)
        raise Forbidden(name=policy, detail=f"this API key's scope {scope!r} does not reach the {policy!r} policy")


def stored_scope(raw_scope: object, purpose: str) -> str:
    """The scope of a stored key: its `scope` member, else (keys from before scopes) one implied by its purpose.

    Enrollment keys written before scopes existed are recognised by the purpose enrollment gives them,
    so an upgrade takes system access away from every controller at once, without a migration step.
    """
    if isinstance(raw_scope, str) and raw_scope:
        return raw_scope
    return CONTROLLER if purpose.startswith(CONTROLLER_PURPOSE_PREFIX) else DEFAULT


def require_self_renewal(key_id: str, scope: str) -> None:
    """Raise Forbidden (403, upstream body) when a key of `scope` may not renew its own token.

    The controller's key is rotated by enrollment only: an operator reaching /api/access-token through
    the controller's gateway or a job must not receive it.
    """
    if scope == CONTROLLER:
        log.warning("refused key %s: a controller key does not renew its own token", key_id)
        raise Forbidden(name="security", detail="a controller-scoped API key may not renew its token")
