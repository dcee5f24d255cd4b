"""Fake reg.exe: `query <Perflib key> /v Counter|"Last Counter"` from the recorded Perflib tables.

State: `perflib` is "en" (CurrentLanguage is the English table), "pt-BR" (the Portuguese one) or
"missing" (reg fails as for an unknown key); `last_counter` replaces the recorded Last Counter value.
"""

from __future__ import annotations

import sys

from fakestate import emit, recorded_bytes, state

PERFLIB = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Perflib"
NOT_FOUND = b"ERROR: The system was unable to find the specified registry key or value.\r\n"


def main(argv: list[str]) -> int:
    with state("reg") as s:
        mode = s.get("perflib", "en")
        if len(argv) != 4 or argv[0] != "query" or argv[2] != "/v" or mode == "missing":
            emit(NOT_FOUND)
            return 1
        key, value = argv[1], argv[3]
        if key == PERFLIB and value == "Last Counter":
            data = recorded_bytes("reg-perflib-last-counter.txt")
            if "last_counter" in s:
                data = data.replace(b"0x2458", hex(s["last_counter"]).encode())
            emit(data)
            return 0
        if key == PERFLIB + r"\009" and value == "Counter":
            emit(recorded_bytes("reg-perflib-009-counter.txt"))
            return 0
        if key == PERFLIB + r"\CurrentLanguage" and value == "Counter":
            if mode == "pt-BR":
                emit(recorded_bytes("reg-perflib-currentlanguage-pt-BR.cp850.txt"))
            else:
                emit(recorded_bytes("reg-perflib-009-counter.txt").replace(b"\\009\r\n", b"\\CurrentLanguage\r\n"))
            return 0
    emit(NOT_FOUND)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
