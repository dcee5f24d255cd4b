"""Benchmark (issue 13): opening a large static file on the event loop vs aiohttp's executor hop.

The worker's StaticFileResponse used to open files over 64 KiB the way aiohttp's FileResponse does, with
open() + fstat() in the default thread pool (py-spy: 18% of a worker at 1 MiB). It now opens them inline. This
measures both on a 1 MiB file in the page cache, alternating, and prints microseconds per open and the ratio.

    .venv/bin/python bench/open_inline_vs_executor.py [--count 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import IO, Any


async def measure(path: Path, count: int, rounds: int) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()

    def open_file() -> IO[Any]:
        fobj = path.open("rb")
        os.fstat(fobj.fileno())
        return fobj

    results: dict[str, list[float]] = {"inline": [], "executor": []}
    for _ in range(rounds):
        for mode, times in results.items():
            start = time.perf_counter()
            for _ in range(count):
                fobj = open_file() if mode == "inline" else await loop.run_in_executor(None, open_file)
                fobj.close()
            times.append((time.perf_counter() - start) / count * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.bin"
        path.write_bytes(os.urandom(1 << 20))
        results = asyncio.run(measure(path, args.count, args.rounds))
    medians = {mode: statistics.median(times) for mode, times in results.items()}
    for mode, times in results.items():
        print(f"{mode:8} median {medians[mode]:7.1f} us per open (rounds: {', '.join(f'{t:.1f}' for t in times)})")
    print(f"ratio executor/inline: {medians['executor'] / medians['inline']:.1f}x")


if __name__ == "__main__":
    main()
