"""Temporary download links: random ids that serve one file without an access token until they expire."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

DEFAULT_TTL_MS = 5000


@dataclass(frozen=True, slots=True)
class Download:
    """One link: the file it serves and when it stops working (monotonic seconds)."""

    id: str
    path: str
    expires: float


class DownloadLinks:
    """Links kept in memory only, as upstream does; a restart invalidates them."""

    def __init__(self) -> None:
        self._links: dict[str, Download] = {}

    def create(self, path: str, ttl_ms: int) -> Download:
        """A new link to `path` valid for `ttl_ms` milliseconds (absolute expiry from now)."""
        self.purge()
        link = Download(secrets.token_urlsafe(32), path, time.monotonic() + ttl_ms / 1000)
        self._links[link.id] = link
        return link

    def get(self, link_id: str) -> Download | None:
        """The live link with this id; an expired one is dropped and reported missing."""
        link = self._links.get(link_id)
        if link is not None and link.expires <= time.monotonic():
            self._links.pop(link_id, None)
            return None
        return link

    def delete(self, link_id: str) -> None:
        """Invalidate a link at once (upstream waits for the TTL)."""
        self._links.pop(link_id, None)

    def purge(self) -> None:
        """Forget every expired link."""
        now = time.monotonic()
        for link_id in [key for key, link in self._links.items() if link.expires <= now]:
            del self._links[link_id]
