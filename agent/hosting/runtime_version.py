"""A process-wide version of runtime state: bumped whenever any site's, pool's or the server's status changes.

The API caches whole answers (agent.api.answer_cache) keyed by this version and the configuration's journal
position, so the statuses in them can be cached too. A change of state bumps the version at the moment the
attribute is assigned (TrackedStatus), so no answer computed before the change can be served after it.
One counter for the process: several hosts in one process (tests) only bump it more often than needed.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

_V = TypeVar("_V")


class _Version:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


RUNTIME = _Version()


def runtime_version() -> int:
    """The current runtime-state version."""
    return RUNTIME.value


def bump() -> None:
    """Record a change of runtime state (adding or removing a site or pool runtime counts too)."""
    RUNTIME.value += 1


class TrackedStatus(Generic[_V]):
    """A data descriptor for a `state` attribute: assigning a different value bumps the runtime version."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_tracked_" + name

    @overload
    def __get__(self, obj: None, owner: type) -> TrackedStatus[_V]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _V: ...
    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.__dict__[self._slot]

    def __set__(self, obj: object, value: _V) -> None:
        if obj.__dict__.get(self._slot, _UNSET) != value:
            obj.__dict__[self._slot] = value
            RUNTIME.value += 1


_UNSET = object()
