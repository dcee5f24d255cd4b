"""English performance-counter names translated to the display language through the Perflib index.

typeperf (like every PDH path API but PdhAddEnglishCounter) takes counter paths in the display language:
`\\Serviço Web(*)\\...` on a pt-BR server. The language-independent key is the counter's index. Windows
keeps two tables of `index, name, index, name, ...` (REG_MULTI_SZ `Counter` values):

- `HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Perflib\\009`: the English names, on every
  language (009 is LANG_ENGLISH);
- `HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Perflib\\CurrentLanguage`: the names in the
  display language (the same as 009 on an English server).

Route chosen: both are read with `reg.exe query <key> /v Counter` (the same subprocess runner as the other
tools, so it is testable off Windows with recorded output and needs no pywin32). `Last Counter` under
Perflib is the highest index in use; it changes whenever a provider is installed or removed (lodctr,
unlodctr, adding an IIS role service), so it is re-read every RECHECK seconds (one small `reg query`)
and the tables are read again only when it has changed.

An English name can own several indices (`Total Bytes Sent` exists for the Web and FTP services). Legacy
providers register an object's counters right after the object's own index, so the candidate chosen is
the first index above the object's. A name missing from either table (a manifest-based provider, whose
names live in its manifest, not in Perflib) is left in English.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.hosting.iis.counters import Names
from agent.hosting.iis.runner import run_tool

log = logging.getLogger("iisfleet.hosting.iis")
DEFAULT_PATH = Path(r"C:\Windows\System32\reg.exe")
PERFLIB = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Perflib"
ENGLISH = PERFLIB + r"\009"
LOCALIZED = PERFLIB + r"\CurrentLanguage"
RECHECK = 300.0
# `    <value name>    REG_<TYPE>    <data>`: reg.exe separates the three columns with four spaces.
_VALUE = re.compile(r"^\s+(?P<name>.+?) {4}(?P<type>REG_\w+)(?: {4}(?P<data>.*))?$")


def reg_value(text: str, name: str) -> tuple[str, str] | None:
    """(type, data) of value `name` in `reg query` output, None when it is not there."""
    for line in text.splitlines():
        match = _VALUE.match(line.rstrip("\r"))
        if match and match.group("name").lower() == name.lower():
            return match.group("type"), match.group("data") or ""
    return None


def parse_counter_table(text: str) -> dict[int, str]:
    """The `Counter` REG_MULTI_SZ (reg.exe prints its strings joined by a literal `\\0`) as index -> name."""
    found = reg_value(text, "Counter")
    if found is None or found[0] != "REG_MULTI_SZ":
        return {}
    items = found[1].split("\\0")
    table: dict[int, str] = {}
    for index, name in zip(items[0::2], items[1::2], strict=False):
        if index.strip().isdigit() and name:
            table.setdefault(int(index), name)
    return table


def parse_dword(text: str, name: str) -> int | None:
    """A REG_DWORD value (`0x2ac8`) from `reg query` output."""
    found = reg_value(text, name)
    if found is None or found[0] != "REG_DWORD":
        return None
    try:
        return int(found[1].strip(), 0)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CounterIndex:
    """The two Perflib tables: index -> English name, index -> display-language name."""

    english: dict[int, str]
    localized: dict[int, str]
    by_name: dict[str, list[int]] = field(init=False)

    def __post_init__(self) -> None:
        by_name: dict[str, list[int]] = {}
        for index in sorted(self.english):
            by_name.setdefault(self.english[index].lower(), []).append(index)
        object.__setattr__(self, "by_name", by_name)

    def _pick(self, name: str, after: int) -> int | None:
        known = [i for i in self.by_name.get(name.lower(), []) if i in self.localized]
        above = [i for i in known if i > after]
        return above[0] if above else (known[0] if known else None)

    def translate(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        """(object, counter) in English -> in the display language; English where either table lacks it."""
        result: dict[tuple[str, str], tuple[str, str]] = {}
        for obj, counter in pairs:
            obj_index = self._pick(obj, -1)
            counter_index = self._pick(counter, obj_index if obj_index is not None else -1)
            result[(obj, counter)] = (
                self.localized[obj_index] if obj_index is not None else obj,
                self.localized[counter_index] if counter_index is not None else counter,
            )  # fmt: skip
        return result


@dataclass(slots=True)
class Perflib:
    """reg.exe reading the Perflib tables; the translation is cached until `Last Counter` changes."""

    path: Path = DEFAULT_PATH
    timeout: float = 15.0
    launcher: tuple[str, ...] = ()
    codepage: str | None = None
    recheck: float = RECHECK
    index: CounterIndex | None = None
    last_counter: int | None = None
    checked_at: float = float("-inf")
    loads: int = 0

    async def _query(self, key: str, value: str) -> str:
        argv = [*self.launcher, str(self.path), "query", key, "/v", value]
        return (await run_tool(argv, seconds=self.timeout, codepage=self.codepage)).stdout

    def invalidate(self) -> None:
        """Check `Last Counter` on the next call (a sample came back without an object it asked for)."""
        self.checked_at = float("-inf")

    async def names(self, pairs: Iterable[tuple[str, str]]) -> Names:
        """The translation of `pairs`, reading the tables again only when the counter set changed."""
        if time.monotonic() - self.checked_at >= self.recheck:
            self.checked_at = time.monotonic()  # a failing reg.exe is retried after `recheck`, not every sample
            last = parse_dword(await self._query(PERFLIB, "Last Counter"), "Last Counter")
            if self.index is None or last != self.last_counter:
                english = parse_counter_table(await self._query(ENGLISH, "Counter"))
                localized = parse_counter_table(await self._query(LOCALIZED, "Counter"))
                self.index, self.last_counter = CounterIndex(english, localized or english), last
                self.loads += 1
                log.info("perflib counter index read: %d names, Last Counter %s", len(english), last)
        return self.index.translate(pairs) if self.index is not None else {}
