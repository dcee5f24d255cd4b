"""The code page a Windows console tool really writes to our pipe, for decoding its output.

A console program writing to a pipe converts its text with the console's output code page: the code page
of the console it is attached to (`GetConsoleOutputCP`, changed by `chcp`), or, for a process started
without a console (the agent as a service), the one Windows gives the new console: the OEM code page
(`GetOEMCP`, 850 on a pt-BR or de-DE server, 437 on en-US). Not the ANSI code page that Python's
`locale.getpreferredencoding()` reports (1252), which turns `Café` printed as cp850 into `Caf‚`.

Off Windows (tests, and only there) there is no console to ask: FALLBACK is used, and tests pass the
code page explicitly.
"""

from __future__ import annotations

import codecs
import ctypes
import sys

FALLBACK = "cp437"  # the OEM code page of an en-US Windows, where typeperf/sc print ASCII anyway


def console_codepage() -> str:
    """`cpNNN` of the console output code page, else the OEM code page, else FALLBACK."""
    if sys.platform == "win32":
        kernel32 = ctypes.WinDLL("kernel32")
        return codec_for(int(kernel32.GetConsoleOutputCP()) or int(kernel32.GetOEMCP()))
    return FALLBACK


def codec_for(number: int) -> str:
    """The Python codec of a Windows code page number (FALLBACK when Python has none)."""
    name = "utf-8" if number == 65001 else f"cp{number}"
    try:
        codecs.lookup(name)
    except LookupError:
        return FALLBACK
    return name


def decode(data: bytes, codepage: str | None = None) -> str:
    """Tool output: strict UTF-8 first (appcmd /xml declares UTF-8, and a UTF-8 console writes it), else
    the console code page; never an exception."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(codepage or console_codepage(), errors="replace")
