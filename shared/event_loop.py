"""run(): the event loop the agent runs on: uvloop where installed, else asyncio's own.

uvloop is optional (it has no Windows build): without it, or with IISFLEET_UVLOOP=0 in the environment, the
agent runs on asyncio's loop. Embedded-host workers always use asyncio's loop: uvloop has no loop.sendfile,
so aiohttp would copy every file through Python. bench/embedded_vs_nginx.py --uvloop measures the difference.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")
SWITCH = "IISFLEET_UVLOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor when it is installed and not switched off; None means asyncio's default."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run(main) on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
