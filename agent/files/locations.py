"""File locations and claims: which physical paths the API may read or write.

A path's claims are those of the configured location with the longest path that contains it, compared
after resolving `..` and symbolic links (unless `skip_resolving_symbolic_links`), so a link that points
outside every location has no claims.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agent.settings import FilesSettings
from shared.paths import expand_path


@dataclass(frozen=True, slots=True)
class Location:
    """One configured root with its resolved path."""

    alias: str
    path: str
    resolved: str
    claims: frozenset[str]


class FileLocations:
    """Answers claim questions for physical paths."""

    def __init__(self, settings: FilesSettings) -> None:
        self.skip_links = settings.skip_resolving_symbolic_links
        self.locations: tuple[Location, ...] = ()
        self.update(settings)

    def update(self, settings: FilesSettings) -> None:
        """Take a new `files` section at run time; readers see the old or the new table, never a mix."""
        skip_links = settings.skip_resolving_symbolic_links

        def resolve(path: str) -> str:
            absolute = os.path.abspath(path)
            return absolute if skip_links else os.path.realpath(absolute)

        table = tuple(
            sorted(
                (
                    Location(loc.alias, loc.path, resolve(expand_path(loc.path)), frozenset(loc.claims))
                    for loc in settings.locations
                ),
                key=lambda loc: len(loc.resolved),
                reverse=True,
            )
        )
        # Two plain attribute stores: a claims check racing an update may pair the new link setting with the
        # old table for one call, which errs only between two configurations the operator both wrote.
        self.skip_links = skip_links
        self.locations = table

    def location_of(self, raw: str) -> Location | None:
        """The location whose root is exactly this path, if any (after resolving, as claims do)."""
        path = self.resolve(raw)
        return next((loc for loc in self.locations if loc.resolved == path), None)

    def _resolve(self, path: str) -> str:
        absolute = os.path.abspath(path)
        return absolute if self.skip_links else os.path.realpath(absolute)

    def resolve(self, raw: str) -> str:
        """The path a claim check compares: expanded, absolute, `..` and (by default) links resolved."""
        return self._resolve(expand_path(raw))

    def claims(self, raw: str) -> frozenset[str]:
        """The claims on a physical path (empty outside every location)."""
        path = self.resolve(raw)
        for location in self.locations:
            root = location.resolved
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return location.claims
        return frozenset()

    def can_read(self, raw: str) -> bool:
        """Whether the path may be read."""
        return "read" in self.claims(raw)

    def can_write(self, raw: str) -> bool:
        """Whether the path may be read and written."""
        return {"read", "write"} <= self.claims(raw)
