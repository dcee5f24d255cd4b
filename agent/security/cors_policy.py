"""Which origins may call the API from a browser (reference 9.10); no aiohttp here."""

from __future__ import annotations

from collections.abc import Iterable

from agent.settings import CorsRule

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, DEBUG"


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class CorsPolicy:
    """The allowed origins of `cors.rules` (only rules with allow=true count; `*` means any)."""

    def __init__(self, rules: Iterable[CorsRule]) -> None:
        allowed = {_normal(rule.origin) for rule in rules if rule.allow and rule.origin.strip()}
        self.any_origin = "*" in allowed
        self.origins = frozenset(allowed - {"*"})

    def allows(self, origin: str | None) -> bool:
        """True when a browser page from `origin` may read responses (with credentials)."""
        if not origin or origin == "null":
            return False
        return self.any_origin or _normal(origin) in self.origins


def participates(path: str) -> bool:
    """Only /api and below take part in CORS; the security area and HTML pages do not."""
    lowered = path.lower()
    return lowered == "/api" or lowered.startswith("/api/")
