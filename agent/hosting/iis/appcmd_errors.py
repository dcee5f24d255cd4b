"""appcmd.exe failures: both printed forms parsed whole, and mapped to the answers upstream gives.

appcmd prints a failure on stdout in one of two forms (see tests/agent/hosting/iis/recorded/PROVENANCE.json):

- one line: `ERROR ( message:Cannot find APPPOOL object with identifier "X". )`, exit code 1168;
- several lines: `ERROR ( hresult:80004001, message:Command execution failed.`, then the reason
  (`Not implemented`) on its own line(s), then ` )`.

The message text is localized on a localized Windows; the HRESULT and the exit code are not, so the
mapping reads those first and the English text only as a last resort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from agent.hosting.iis.runner import ToolFailed
from shared.errors import ApiError, Locked, NotFound, ServerError

# HRESULT_FROM_WIN32 values and E_NOTIMPL, as appcmd prints them (8 hex digits, no 0x).
E_NOTIMPL = 0x80004001
NOT_FOUND = 0x80070490  # ERROR_NOT_FOUND (1168)
LOCK_VIOLATION = 0x80070021  # ERROR_LOCK_VIOLATION (33): a section locked at a parent level
ALREADY_RUNNING = 0x80070420  # ERROR_SERVICE_ALREADY_RUNNING (1056)
NOT_ACTIVE = 0x80070426  # ERROR_SERVICE_NOT_ACTIVE (1062)
# The state each verb asks for, and the codes meaning "it is already there".
ALREADY = {"start": {ALREADY_RUNNING, ALREADY_RUNNING & 0xFFFF}, "stop": {NOT_ACTIVE, NOT_ACTIVE & 0xFFFF}}
_START = re.compile(r"ERROR\s*\(")
_HEAD = re.compile(r"^\s*(?:hresult:(?P<hresult>[0-9A-Fa-f]{1,8})\s*,\s*)?message:(?P<message>.*)$", re.S)


class Failure(Enum):
    """What an appcmd failure means for the API."""

    NOT_FOUND = "not found"
    ALREADY = "already in the requested state"
    LOCKED = "locked"
    NOT_IMPLEMENTED = "not implemented"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class AppcmdError:
    """One `ERROR ( ... )` block: its HRESULT (if printed), first message line, and the lines after it."""

    hresult: int | None
    message: str
    reason: str

    def text(self) -> str:
        """The whole error on one line: `Command execution failed. Not implemented`."""
        return " ".join(part for part in (self.message, self.reason) if part)


def parse_error(text: str) -> AppcmdError | None:
    """The ERROR block in appcmd's output, in either form; None when there is none."""
    start = _START.search(text)
    if start is None:
        return None
    body = text[start.end() :].rstrip()
    body = body.removesuffix(")").rstrip()  # the closing parenthesis, on the last line in both forms
    head = _HEAD.match(body)
    if head is None:
        return AppcmdError(None, " ".join(body.split()), "")
    first, _, rest = head.group("message").partition("\n")
    reason = " ".join(line.strip() for line in rest.splitlines() if line.strip())
    hresult = int(head.group("hresult"), 16) if head.group("hresult") else None
    return AppcmdError(hresult, first.strip(), reason)


def classify(error: AppcmdError | None, returncode: int, verb: str = "") -> Failure:
    """Map a failure by HRESULT and exit code (language-independent), English text last."""
    codes = {returncode & 0xFFFFFFFF}
    if error is not None and error.hresult is not None:
        codes.add(error.hresult)
    message = error.message if error else ""
    if codes & ALREADY.get(verb, set()):
        return Failure.ALREADY
    if codes & {NOT_FOUND, NOT_FOUND & 0xFFFF} or message.startswith("Cannot find "):
        return Failure.NOT_FOUND
    if codes & {LOCK_VIOLATION, LOCK_VIOLATION & 0xFFFF}:
        return Failure.LOCKED
    if E_NOTIMPL in codes:
        return Failure.NOT_IMPLEMENTED
    return Failure.OTHER


def api_error(failed: ToolFailed, verb: str, kind: str, label: str, name: str) -> ApiError | None:
    """The API's answer to a failed `appcmd <verb> <kind>`: None when the object is already there."""
    error = parse_error(failed.output.stdout + "\n" + failed.output.stderr)
    failure = classify(error, failed.output.returncode, verb)
    whole = error.text() if error else failed.detail or ""
    if failure is Failure.ALREADY:
        return None
    if failure is Failure.NOT_FOUND:
        return NotFound(name=kind, detail=f"{label} {name!r} does not exist in IIS: {whole}")
    if failure is Failure.LOCKED:
        return Locked(name=kind, detail=f"appcmd {verb} {label.lower()} {name!r}: {whole}")
    return ServerError(name="status", detail=f"appcmd {verb} {label.lower()} {name!r} failed: {whole}")
