"""Run one Windows tool (appcmd.exe, typeperf.exe, sc.exe) as a subprocess with a deadline.

Never through a shell: the argument list goes to CreateProcess as is, so a site named `a & b` stays one
argument. A tool that does not answer in time is killed (by its own pid) and reported as 503; a tool
that fails is reported as 500 carrying the tool's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.hosting.iis.codepage import decode
from shared.errors import ServerError, ServiceUnavailable

# Tool output is cut to this many characters in an error detail: room for appcmd's multi-line ERROR.
DETAIL_LIMIT = 1000
_ERROR_BLOCK = re.compile(r"ERROR\s*\(.*?\)[ \t]*(?:\r?\n|$)", re.S)


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a finished tool printed, and its exit code."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class ToolTimeout(ServiceUnavailable):
    """The tool did not finish within its deadline (WAS busy or hung)."""


class ToolFailed(ServerError):
    """The tool ran and reported failure; `output` keeps what it printed."""

    def __init__(self, output: ToolOutput, detail: str) -> None:
        super().__init__(detail=detail, name="status")
        self.output = output


def tool_message(output: ToolOutput) -> str:
    """What the tool said: appcmd's whole `ERROR ( ... )` block (one line or several) joined into one
    line, else the most telling line (`[SC] ... FAILED 1060:`)."""
    text = output.stderr + "\n" + output.stdout
    block = _ERROR_BLOCK.search(text)
    if block:
        return " ".join(block.group(0).split())[:DETAIL_LIMIT]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.upper().startswith(("ERROR", "[SC]", "FAILED"))]
    text = (errors or lines or [f"exit code {output.returncode}"])[0]
    return text[:DETAIL_LIMIT]


async def run_tool(
    argv: Sequence[str], *, seconds: float, check: bool = True, codepage: str | None = None
) -> ToolOutput:
    """Run `argv`, wait at most `seconds`; raise ToolTimeout, or ToolFailed on a non-zero exit.

    Output is decoded as UTF-8 when it is, else with `codepage` (default: the console's, see codepage.py).
    """
    name = _name(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as err:
        raise ServiceUnavailable(name="status", detail=f"Cannot run {name}: {err.strerror or err}.") from err
    try:
        out, errout = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        await _kill(proc)
        raise ToolTimeout(name="status", detail=f"{name} did not answer within {seconds:g} s.") from None
    except asyncio.CancelledError:
        # A sibling call failed or the caller went away: never leave the tool running behind us.
        await _kill(proc)
        raise
    output = ToolOutput(tuple(argv), proc.returncode or 0, decode(out, codepage), decode(errout, codepage))
    if check and output.returncode != 0:
        raise ToolFailed(output, f"{name} failed: {tool_message(output)}")
    return output


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    try:
        await proc.wait()
    except asyncio.CancelledError:
        # Cancelled while reaping: finish (a killed process exits at once), or it lingers unreaped.
        await proc.wait()
        raise


def _name(argv: Sequence[str]) -> str:
    # The executable's file name, even when a launcher (a Python interpreter in tests) comes first.
    for part in argv:
        tail = part.replace("\\", "/").rsplit("/", 1)[-1]
        if tail.lower().endswith((".exe", ".py")):
            return tail.removesuffix(".py")
    return argv[0] if argv else "tool"
