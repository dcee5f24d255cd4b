"""IIS performance counters read with typeperf.exe, and its PDH-CSV output parsed into per-object values.

Sources: counter paths `\\Computer\\Object(Instance)\\Counter` and `typeperf -c ... -si 1 -sc 1 -f CSV`
(wtrace.net/guides/using-performance-counters); typeperf prints a `"(PDH-CSV 4.0)"` header row of counter
paths, one quoted row per sample, then status lines (outlyerapp/plugins iis.py reads row 3 of that
output). Counter names: the Web Service object (Win32_PerfRawData_W3SVC_WebService, learn.microsoft.com
aa394345), APP_POOL_WAS and W3SVC_W3WP as windows_exporter's iis collector reads them
(prometheus-community/windows_exporter internal/collector/iis: `Current Application Pool State` 1..7 with
3 = Running, W3SVC_W3WP instances named `PID_PoolName`). `Get-Counter | Export-Csv` is not used: its
columns differ and PowerShell adds seconds of start-up to every sample.

typeperf only takes counter paths in the display language, so the English names below go through the
Perflib index first (perflib.py) and the localized header is mapped back to them here. Perflib may list
one IIS instance twice, `Site_B` and `Site_B#1`; as in windows_exporter's iis collector
(internal/collector/iis/iis.go, deduplicateIISNames) the entry with the highest `#N` suffix is kept and
reported without the suffix.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.runner import run_tool
from agent.hosting.runtime_types import COUNTED_METHODS

DEFAULT_PATH = Path(r"C:\Windows\System32\typeperf.exe")
WEB = "Web Service"
WAS = "APP_POOL_WAS"
W3WP = "W3SVC_W3WP"
# Totals and gauges only: rates are computed by agent.monitoring from two snapshots, as PDH would.
COUNTERS: tuple[tuple[str, str], ...] = (
    (WEB, "Total Bytes Sent"), (WEB, "Total Bytes Received"), (WEB, "Current Connections"),
    (WEB, "Total Connection Attempts (all instances)"), (WEB, "Total Method Requests"),
    (WEB, "Total Not Found Errors"), (WEB, "Total Locked Errors"),
    (WAS, "Current Application Pool State"), (WAS, "Total Application Pool Recycles"),
    (WAS, "Recent Worker Process Failures"), (WAS, "Total Worker Processes Created"),
    (W3WP, "Total HTTP Requests Served"), (W3WP, "Active Requests"),
    *((WEB, f"Total {method.title()} Requests") for method in sorted(COUNTED_METHODS)),
)  # fmt: skip
# APP_POOL_WAS "Current Application Pool State": 1 Uninitialized, 2 Initialized, 3 Running, 4 Disabling,
# 5 Disabled, 6 Shutdown Pending, 7 Delete Pending.
POOL_STATES = {
    1: RuntimeStatus.STOPPED, 2: RuntimeStatus.STOPPED, 3: RuntimeStatus.STARTED, 4: RuntimeStatus.STOPPING,
    5: RuntimeStatus.STOPPED, 6: RuntimeStatus.STOPPING, 7: RuntimeStatus.STOPPING,
}  # fmt: skip
_PATH = re.compile(r"^(?:\\\\[^\\]+)?\\(?P<object>[^\\(]+)(?:\((?P<instance>.*)\))?\\(?P<counter>[^\\]+)$")
_WORKER = re.compile(r"^(?P<pid>\d+)_(?P<pool>.+)$")
_SUFFIX = re.compile(r"^(?P<base>.+?)#(?P<n>\d+)$")
# (object, counter) in English -> the same pair in the display language typeperf wants.
Names = Mapping[tuple[str, str], tuple[str, str]]


def counter_path(obj: str, counter: str) -> str:
    """`\\Object(*)\\Counter`: every instance of the object."""
    return f"\\{obj}(*)\\{counter}"


def split_suffix(instance: str) -> tuple[str, int]:
    """`Site_B#2` -> (`Site_B`, 2); a name without a suffix ranks below every suffixed duplicate."""
    match = _SUFFIX.match(instance)
    return (match.group("base"), int(match.group("n"))) if match else (instance, -1)


def merge_duplicates(instances: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """One entry per instance name: the duplicate with the highest `#N` (numerically: #10 beats #9)."""
    best: dict[str, tuple[int, dict[str, float]]] = {}
    for name, counters in instances.items():
        base, rank = split_suffix(name)
        if base not in best or rank > best[base][0]:
            best[base] = (rank, counters)
    return {base: counters for base, (_rank, counters) in best.items()}


@dataclass(slots=True)
class CounterValues:
    """Values of one sample: object -> instance -> counter -> value (objects and counters lower-cased)."""

    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def instances(self, obj: str) -> dict[str, dict[str, float]]:
        """Every instance of an object except `_Total`, with its counters."""
        return {k: v for k, v in self.values.get(obj.lower(), {}).items() if k != "_Total"}

    def get(self, obj: str, instance: str, counter: str) -> float | None:
        """One value, None when the counter or instance was not sampled."""
        return self.values.get(obj.lower(), {}).get(instance, {}).get(counter.lower())

    def count(self, obj: str, instance: str, counter: str) -> int:
        """One value as an int (0 when missing)."""
        value = self.get(obj, instance, counter)
        return int(value) if value is not None else 0

    def workers(self) -> dict[int, tuple[str, dict[str, float]]]:
        """W3SVC_W3WP instances by pid: (pool name, counters)."""
        found: dict[int, tuple[str, dict[str, float]]] = {}
        for name, counters in self.instances(W3WP).items():
            match = _WORKER.match(name)
            if match:
                found[int(match.group("pid"))] = (match.group("pool"), counters)
        return found

    def pool_state(self, pool: str) -> RuntimeStatus:
        """A pool's state from APP_POOL_WAS (`unknown` when not sampled)."""
        value = self.get(WAS, pool, "Current Application Pool State")
        return POOL_STATES.get(int(value), RuntimeStatus.UNKNOWN) if value is not None else RuntimeStatus.UNKNOWN


def parse_pdh_csv(text: str, names: Names | None = None) -> CounterValues:
    """The last sample row of typeperf's CSV; blank cells (no data for that instance) are skipped.

    `names` is the translation the paths were asked with: localized headers are stored under the English
    names. Duplicate `#N` instances are merged (merge_duplicates).
    """
    back = {(lo.lower(), lc.lower()): (o.lower(), c.lower()) for (o, c), (lo, lc) in (names or {}).items()}
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    header_at = next((i for i, row in enumerate(rows) if row[0].startswith("(PDH-CSV")), None)
    if header_at is None:
        return CounterValues()
    header = rows[header_at]
    samples = [row for row in rows[header_at + 1 :] if len(row) == len(header)]
    result = CounterValues()
    if not samples:
        return result
    for path, cell in zip(header[1:], samples[-1][1:], strict=True):
        match = _PATH.match(path)
        if match is None or not cell.strip():
            continue
        try:
            value = float(cell)
        except ValueError:
            continue
        obj, counter = match.group("object").lower(), match.group("counter").lower()
        obj, counter = back.get((obj, counter), (obj, counter))
        result.values.setdefault(obj, {}).setdefault(match.group("instance") or "", {})[counter] = value
    result.values = {obj: merge_duplicates(instances) for obj, instances in result.values.items()}
    return result


@dataclass(frozen=True, slots=True)
class Typeperf:
    """typeperf.exe at `path`: one sample of `counters`, bounded by `timeout` seconds."""

    path: Path = DEFAULT_PATH
    timeout: float = 15.0
    launcher: tuple[str, ...] = ()
    counters: Sequence[tuple[str, str]] = COUNTERS
    codepage: str | None = None  # None: the console's (codepage.console_codepage)

    def argv(self, names: Names | None = None) -> list[str]:
        """`typeperf -sc 1 <paths...>` (CSV on stdout is typeperf's default), in the display language."""
        local = names or {}
        paths = (counter_path(*local.get(pair, pair)) for pair in self.counters)
        return [*self.launcher, str(self.path), "-sc", "1", *paths]

    async def sample(self, names: Names | None = None) -> CounterValues:
        """One sample of every counter, asked for by its localized path, answered under English names."""
        output = await run_tool(self.argv(names), seconds=self.timeout, codepage=self.codepage)
        return parse_pdh_csv(output.stdout, names)
