"""HttpLoggingModule: system.webServer/httpLogging dontLog decides whether the site log gets the request."""

from __future__ import annotations

from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/httpLogging"


def load(section: Any) -> bool:
    """True when requests at the path are not logged."""
    return bool(section.get("dontLog"))


class HttpLoggingModule:
    """Passes the log decision to the supervisor, which writes the W3C file (as IIS hands it to HTTP.sys)."""

    def log_request(self, ctx: HttpContext) -> None:
        """Honour dontLog."""
        if ctx.settings(SECTION, load):
            ctx.log_enabled = False
