"""Where the entries of one child collection live: one configuration collection, or a split list over two.

Request filtering keeps `allow: false` urls/query strings in a deny list and `allow: true` ones in an
always-allowed list with another key attribute. The entries engine serves both through the slots declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agent.api.mapping import Attr


@dataclass(frozen=True, slots=True)
class SplitList:
    """A second collection holding the entries whose boolean `member` is true."""

    member: str
    holder: str
    key: str
    """The key attribute of the second collection (the first uses the row's key attribute)."""
    across: bool = False
    """A duplicate key conflicts across both lists (query strings), not only within the target list (urls)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One configuration collection of a child collection and what sets its entries apart."""

    holder: str
    rename: dict[str, str] = field(default_factory=dict)
    """Key attribute of the row -> the attribute this collection keys on."""
    members: dict[str, Any] = field(default_factory=dict)
    """JSON members every entry of this collection shows (`allow`)."""

    def attr(self, name: str) -> str:
        """This collection's name of a row attribute."""
        return self.rename.get(name, name)

    def key(self, key: dict[str, str]) -> dict[str, str]:
        """A row key in this collection's attribute names."""
        return {self.attr(name): value for name, value in key.items()}

    def fields(self, attrs: tuple[Attr, ...]) -> tuple[Attr, ...]:
        """Row mappings pointed at this collection's attributes."""
        return tuple(replace(a, config=self.attr(a.config)) if a.config in self.rename else a for a in attrs)


def slots(holder: str, keys: tuple[Attr, ...], split: SplitList | None) -> tuple[Slot, ...]:
    """The collections of a child collection, the row's own first."""
    if split is None:
        return (Slot(holder),)
    return (Slot(holder, members={split.member: False}),
            Slot(split.holder, {keys[0].config: split.key}, {split.member: True}))  # fmt: skip
