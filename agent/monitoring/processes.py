"""Statistics of one OS process (a worker) through psutil, plus the few /proc fields psutil does not expose.

Names follow the Windows counters upstream reads; the Linux equivalents are: working set = RSS, private
working set = USS, private bytes = USS + swap, handles = open file descriptors, page faults = minor + major.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStats:
    """One process at one instant."""

    pid: int
    name: str
    create_time: float
    cpu_seconds: float
    working_set: int
    peak_working_set: int
    private_bytes: int
    private_working_set: int
    virtual_bytes: int
    peak_virtual_bytes: int
    threads: int
    handles: int
    read_ops: int
    write_ops: int
    page_faults: int


def _proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmPeak (bytes) from /proc/<pid>/status; empty where there is no /proc."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmPeak"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _page_faults(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        # Fields after the parenthesised command name: minflt is the 10th field overall, majflt the 12th.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[7]) + int(fields[9])
    return 0


def read_process(pid: int) -> ProcessStats | None:
    """The statistics of `pid`, or None when it is gone or not ours to read."""
    import psutil  # on first use: ~0.9 MiB resident that an agent nobody monitors does without

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            cpu = proc.cpu_times()
            memory = proc.memory_full_info()
            try:
                io = proc.io_counters()
                read_ops, write_ops = int(io.read_count), int(io.write_count)
            except (psutil.AccessDenied, AttributeError):
                read_ops = write_ops = 0
            handles = proc.num_fds() if hasattr(proc, "num_fds") else int(getattr(proc, "num_handles", lambda: 0)())
            name, created, threads = proc.name(), proc.create_time(), proc.num_threads()
    except psutil.Error:
        return None
    status = _proc_status(pid)
    uss = int(getattr(memory, "uss", memory.rss))
    return ProcessStats(
        pid=pid, name=name, create_time=created, cpu_seconds=float(cpu.user + cpu.system),
        working_set=int(memory.rss), peak_working_set=status.get("VmHWM", int(memory.rss)),
        private_bytes=uss + int(getattr(memory, "swap", 0)), private_working_set=uss,
        virtual_bytes=int(memory.vms), peak_virtual_bytes=status.get("VmPeak", int(memory.vms)),
        threads=threads, handles=handles, read_ops=read_ops, write_ops=write_ops, page_faults=_page_faults(pid),
    )  # fmt: skip


def read_processes(pids: list[int]) -> dict[int, ProcessStats]:
    """Statistics of every pid that still exists (blocking: run it in a thread)."""
    found = {}
    for pid in pids:
        stats = read_process(pid)
        if stats is not None:
            found[pid] = stats
    return found
