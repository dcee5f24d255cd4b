"""TurnGate: one pass per object per event-loop turn, and always open outside a running loop."""

from __future__ import annotations

import asyncio
import threading

from shared.loop_turn import TurnGate


def test_outside_a_loop_every_call_passes() -> None:
    gate = TurnGate()
    marker = object()
    assert [gate.first(marker) for _ in range(3)] == [True, True, True]


async def test_one_pass_per_object_per_turn_and_open_again_next_turn() -> None:
    gate = TurnGate()
    a, b = object(), object()
    assert gate.first(a) and gate.first(b)
    assert not gate.first(a) and not gate.first(b)
    await asyncio.sleep(0)  # the next turn of the loop
    assert gate.first(a)
    assert not gate.first(a)
    await asyncio.sleep(0)
    assert gate.first(b)


async def test_requests_read_in_one_turn_share_one_pass() -> None:
    gate = TurnGate()
    store = object()
    passed: list[bool] = []

    async def request() -> None:
        passed.append(gate.first(store))

    # Tasks created together take their first step in the same turn, as handlers of data read by one select().
    await asyncio.gather(*(request() for _ in range(5)))
    assert passed == [True, False, False, False, False]
    await request()
    assert passed[-1] is True


def test_each_thread_and_each_loop_has_its_own_turns() -> None:
    gate = TurnGate()
    store = object()

    async def twice() -> list[bool]:
        return [gate.first(store), gate.first(store)]

    assert asyncio.run(twice()) == [True, False]
    assert asyncio.run(twice()) == [True, False]  # a new loop on this thread starts clean
    results: list[list[bool]] = []

    async def hold() -> None:
        results.append([gate.first(store), gate.first(store)])
        other = threading.Thread(target=lambda: results.append(asyncio.run(twice())))
        other.start()
        other.join()

    asyncio.run(hold())
    assert results == [[True, False], [True, False]]
