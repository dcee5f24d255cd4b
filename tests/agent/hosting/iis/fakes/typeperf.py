"""Fake typeperf.exe: prints the recorded PDH-CSV sample named by the state (`typeperf_csv`)."""

from __future__ import annotations

import sys

from fakestate import recorded, state


def main(argv: list[str]) -> int:
    with state("typeperf") as s:
        if "-sc" not in argv:
            print("Error: the fake only records single samples (-sc 1).")
            return 1
        sys.stdout.write(recorded(s.get("typeperf_csv", "typeperf.csv")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
