"""sc.exe: query, start and stop the World Wide Web Publishing Service (W3SVC).

Sources: "SC" command reference (learn.microsoft.com, previous-versions windows-xp bb490995): `sc query`,
`sc start`, `sc stop` retrieve status and start/stop a service; W3SVC is the service name of "World Wide
Web Publishing Service" (needfulsoftware.com, "IIS Automation (2/6)", which also shows `net start w3svc`).
The STATE line carries SERVICE_STATUS.dwCurrentState (1 STOPPED ... 7 PAUSED; "Service Status Codes",
logic.linux8.com/support/service_status.html). sc start/stop return at once with a *_PENDING state, so
the caller polls `sc query` until the state settles. On a localized Windows the label is translated
(`ESTADO : 1  STOPPED` on pt-BR) but the number and the SERVICE_* constant after it are not, so the line
is found by that pair, never by its label.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.runner import ToolFailed, run_tool
from shared.errors import ServerError

DEFAULT_PATH = Path(r"C:\Windows\System32\sc.exe")
SERVICE = "W3SVC"
# `[SC] StartService FAILED 1056:`; the word FAILED may be translated, the API name and the code are not.
_FAILED = re.compile(r"\[SC\]\s+\w+\s+\S+\s+(\d+)\s*:")
# dwCurrentState: STOPPED, START_PENDING, STOP_PENDING, RUNNING, CONTINUE_PENDING, PAUSE_PENDING, PAUSED.
CONSTANTS = ("STOPPED", "START_PENDING", "STOP_PENDING", "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING", "PAUSED")
# `<any label> : <number>  <CONSTANT>`: the label is the only translated part of the line.
_STATE = re.compile(r"^[^:\r\n]+:\s*([1-7])\s+(" + "|".join(CONSTANTS) + r")\b", re.M)
_CODES = {
    1: RuntimeStatus.STOPPED, 2: RuntimeStatus.STARTING, 3: RuntimeStatus.STOPPING, 4: RuntimeStatus.STARTED,
    5: RuntimeStatus.STARTING, 6: RuntimeStatus.STOPPING, 7: RuntimeStatus.STOPPED,
}  # fmt: skip
# ERROR_SERVICE_ALREADY_RUNNING and ERROR_SERVICE_NOT_ACTIVE: the service is already where we want it.
ALREADY = {"start": 1056, "stop": 1062}


def error_code(text: str, returncode: int) -> int:
    """The Win32 error of a failed sc call: `[SC] StartService FAILED 1056:` (exit codes may be truncated)."""
    match = _FAILED.search(text)
    return int(match.group(1)) if match else returncode


def parse_query(text: str) -> RuntimeStatus:
    """The service state from `sc query` output in any display language (`unknown` without a state line)."""
    for match in _STATE.finditer(text):
        code = int(match.group(1))
        if CONSTANTS[code - 1] == match.group(2):  # number and constant agree: this is the state line
            return _CODES[code]
    return RuntimeStatus.UNKNOWN


@dataclass(frozen=True, slots=True)
class ServiceControl:
    """sc.exe at `path` driving one service; each call bounded by `timeout`, a change by `settle`."""

    path: Path = DEFAULT_PATH
    service: str = SERVICE
    timeout: float = 15.0
    settle: float = 30.0
    launcher: tuple[str, ...] = ()
    poll: float = 0.25
    codepage: str | None = None  # None: the console's (codepage.console_codepage)

    def argv(self, verb: str) -> list[str]:
        """`sc.exe <verb> W3SVC`."""
        return [*self.launcher, str(self.path), verb, self.service]

    async def query(self) -> RuntimeStatus:
        """The service's current state."""
        return parse_query((await run_tool(self.argv("query"), seconds=self.timeout, codepage=self.codepage)).stdout)

    async def change(self, verb: str) -> RuntimeStatus:
        """`sc start|stop`, then wait until the state is final (or `settle` runs out: a pending state)."""
        try:
            await run_tool(self.argv(verb), seconds=self.timeout, codepage=self.codepage)
        except ToolFailed as err:
            if error_code(err.output.stdout, err.output.returncode) != ALREADY[verb]:
                raise
        wanted = RuntimeStatus.STARTED if verb == "start" else RuntimeStatus.STOPPED
        deadline = time.monotonic() + self.settle
        while True:
            state = await self.query()
            if state == wanted:
                return state
            if state not in (RuntimeStatus.STARTING, RuntimeStatus.STOPPING) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(self.poll)
        if state in (RuntimeStatus.STARTING, RuntimeStatus.STOPPING):
            return state  # still moving: status reports starting/stopping until it settles
        raise ServerError(name="status", detail=f"{self.service} is {state.value} after sc {verb}.")
