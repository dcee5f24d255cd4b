"""AnonymousAuthenticationModule: anonymousAuthentication enabled=false and no other scheme → 401.2."""

from __future__ import annotations

from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/security/authentication/anonymousAuthentication"


def load(section: Any) -> bool:
    """Whether anonymous access is enabled at the path."""
    return bool(section.get("enabled"))


class AnonymousAuthenticationModule:
    """Authenticates anonymous requests, or refuses them when anonymous access is off."""

    def authenticate_request(self, ctx: HttpContext) -> None:
        """An earlier authentication module may have set ctx.user; otherwise anonymous or 401.2."""
        if ctx.user:
            return
        if not ctx.settings(SECTION, load):
            # No implemented scheme could authenticate the caller: IIS's "logon failed due to server configuration".
            ctx.error(401, 2)
