"""TurnGate: let a check (a stat of a file other processes edit) run at most once per event-loop turn.

Requests read in one turn of the loop arrived together: none of them can have been sent after seeing
another's answer, so one check of "did another process change the file" serves them all. A request that
causally follows an edit (its client saw the edit done first) is read by a later select(), so it always
runs in a later turn and sees the edit. Without a running loop (tools, tests in plain threads) every
call checks.
"""

from __future__ import annotations

import asyncio
import threading


class _TurnState(threading.local):
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.seen: set[int] = set()


class TurnGate:
    """first(obj) is True once per loop turn for each object (always True outside a running loop)."""

    def __init__(self) -> None:
        self._state = _TurnState()  # per thread: each thread runs its own loop

    def first(self, obj: object) -> bool:
        """True when `obj` has not passed the gate in this turn of this thread's loop; then it has."""
        state = self._state
        loop = state.loop
        # asyncio.get_running_loop() makes a getpid() system call in 3.11: ask it only when the loop this
        # thread last saw is not still running here.
        if loop is None or getattr(loop, "_thread_id", None) != threading.get_ident():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return True
            if loop is not state.loop:
                state.loop, state.seen = loop, set()
        seen = state.seen
        ident = id(obj)
        if ident in seen:
            return False
        if not seen:
            # Runs before the callbacks of the next select(): those see an empty set again.
            loop.call_soon(seen.clear)
        seen.add(ident)
        return True

TURN = TurnGate()
"""The process's gate (objects are told apart by id, so one gate serves every store)."""
