"""Fake typeperf.exe: prints the recorded PDH-CSV sample named by the state (`typeperf_csv`), as bytes.

With `perflib: "pt-BR"` the machine speaks Portuguese: an English object path is not valid there, and
typeperf answers as it does when none of its paths exist.
"""

from __future__ import annotations

import sys

from fakestate import emit, recorded_bytes, state

NO_VALID = b"\r\nError: No valid counters.\r\n"


def main(argv: list[str]) -> int:
    with state("typeperf") as s:
        if "-sc" not in argv:
            print("Error: the fake only records single samples (-sc 1).")
            return 1
        if s.get("perflib") == "pt-BR" and any(a.startswith("\\Web Service(") for a in argv):
            emit(NO_VALID)
            return 0xC0000BB8 & 0xFF  # an exit code that is not 0; the real one was not recorded
        emit(recorded_bytes(s.get("typeperf_csv", "typeperf.csv")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
