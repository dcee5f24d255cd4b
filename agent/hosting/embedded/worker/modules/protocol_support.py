"""ProtocolSupportModule: system.webServer/httpProtocol customHeaders on every response."""

from __future__ import annotations

from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/httpProtocol"


def load(section: Any) -> tuple[tuple[str, str], ...]:
    """The custom headers effective at the path."""
    return tuple((str(h.get("name")), str(h.get("value"))) for h in section.collection("customHeaders"))


class ProtocolSupportModule:
    """Adds the configured custom response headers, error responses included (as IIS does)."""

    def send_response(self, ctx: HttpContext) -> None:
        """Set each custom header on the response."""
        if ctx.response is None:
            return
        for name, value in ctx.settings(SECTION, load):
            ctx.response.headers[name] = value
