"""Fake sc.exe: `query|start|stop W3SVC` in the recorded layout; start/stop pass through a pending state."""

from __future__ import annotations

import sys
from typing import Any

from fakestate import emit, recorded, recorded_bytes, state

NAMES = {1: "STOPPED", 2: "START_PENDING", 3: "STOP_PENDING", 4: "RUNNING"}


def _query(s: dict[str, Any]) -> str:
    code = s["w3svc"]
    if code in (2, 3) and s.get("pending", 0) <= 0:
        s["w3svc"] = code = 4 if code == 2 else 1  # the pending state settles after the recorded queries
    s["pending"] = s.get("pending", 0) - 1
    return recorded("sc-query-running.txt").replace("4  RUNNING", f"{code}  {NAMES[code]}")


def main(argv: list[str]) -> int:
    with state("sc") as s:
        if len(argv) != 2 or argv[1].upper() != "W3SVC":
            print("[SC] OpenService FAILED 1060:\n\nThe specified service does not exist as an installed service.")
            return 1060
        verb = argv[0].lower()
        if verb == "query" and s.get("sc_locale") == "pt-BR":  # the recorded pt-BR block, OEM code page bytes
            if s["w3svc"] in (2, 3):  # no pending state was recorded in pt-BR: settle at once
                s["w3svc"] = 4 if s["w3svc"] == 2 else 1
            state_name = "stopped" if s["w3svc"] == 1 else "running"
            emit(recorded_bytes(f"sc-query-pt-BR-{state_name}.cp850.txt"))
            return 0
        if verb == "query":
            sys.stdout.write(_query(s))
            return 0
        if verb == "start" and s["w3svc"] == 4:
            print("[SC] StartService FAILED 1056:\n\nAn instance of the service is already running.")
            return 1056
        if verb == "stop" and s["w3svc"] == 1:
            print("[SC] ControlService FAILED 1062:\n\nThe service has not been started.")
            return 1062
        if verb in ("start", "stop"):
            s["w3svc"], s["pending"] = (2 if verb == "start" else 3), 2
            sys.stdout.write(_query(s))
            return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
