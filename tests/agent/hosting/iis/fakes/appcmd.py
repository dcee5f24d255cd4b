"""Fake appcmd.exe: answers list/start/stop/recycle from the state JSON in the recorded /xml layout.

Failures are the recorded ERROR blocks (recorded/appcmd-error-*.txt, see PROVENANCE.json), printed as
bytes with their CRLFs, with the recorded object name replaced by the one asked for. State: `locked`
lists names whose change fails with a lock violation; `request_monitor: false` makes `list request`
fail as it does without the Request Monitor role service; `list_site_file` prints a recorded site list.
"""

from __future__ import annotations

import sys
from typing import Any
from xml.sax.saxutils import quoteattr

from fakestate import emit, recorded_bytes, state

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n'
FOOTER = "</appcmd>\n"


def _xml(tag: str, rows: list[dict[str, Any]]) -> str:
    lines = "".join(f"    <{tag} " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in row.items()) + " />\n"
                    for row in rows)  # fmt: skip
    return HEADER + lines + FOOTER


def _list(kind: str, s: dict[str, Any]) -> str:
    if kind in ("site", "sites"):
        return _xml("SITE", [{"SITE.NAME": x["name"], "SITE.ID": x["id"], "bindings": x["bindings"],
                              "state": x["state"]} for x in s["sites"]])  # fmt: skip
    if kind in ("apppool", "apppools"):
        return _xml("APPPOOL", [{"APPPOOL.NAME": p["name"], "PipelineMode": p.get("pipeline", "Integrated"),
                                 "RuntimeVersion": p.get("runtime", "v4.0"), "state": p["state"]}
                                for p in s["pools"]])  # fmt: skip
    if kind in ("wp", "wps"):
        return _xml("WP", [{"WP.NAME": w["pid"], "APPPOOL.NAME": w["pool"]} for w in s["workers"]])
    if kind in ("request", "requests"):
        pools = {w["pid"]: w["pool"] for w in s["workers"]}
        return _xml("REQUEST", [{"REQUEST.NAME": r["id"], "WP.NAME": r["pid"], "APPPOOL.NAME": pools.get(r["pid"], ""),
                                 "SITE.ID": r["site_id"], "Url": r["url"], "Verb": r["verb"], "ClientIp": r["client"],
                                 "Time": r["time"], "Stage": r["stage"], "Module": r.get("module", "")}
                                for r in s["requests"]])  # fmt: skip
    raise SystemExit(f"fake appcmd: no recording for list {kind}")


def _fail(recording: str, code: int, label: str = "APPPOOL", name: str = "NoSuchPool") -> int:
    data = recorded_bytes(f"appcmd-error-{recording}.txt")
    emit(data.replace(b"APPPOOL", label.encode()).replace(b"NoSuchPool", name.encode("utf-8")))
    return code


def _change(verb: str, kind: str, selector: str, s: dict[str, Any]) -> int:
    key, _, name = selector.partition(":")
    table, label = (s["sites"], "SITE") if kind == "site" else (s["pools"], "APPPOOL")
    found = [x for x in table if x["name"].lower() == name.lower()] if key.lstrip("/").endswith(".name") else []
    if not found:
        return _fail("not-found", 1168, label, name)
    item = found[0]
    if item["name"] in s.get("locked", []):
        return _fail("locked", 33)
    if verb == "recycle":
        if item["state"] != "Started":
            return _fail("already-stopped", 1062)  # a stopped pool cannot be recycled: 500 with the reason
        for w in s["workers"]:
            if w["pool"] == item["name"]:
                w["pid"] += 1000  # WAS replaces the worker: a new process id
        print(f'"{item["name"]}" successfully recycled')
        return 0
    if item["state"] == ("Started" if verb == "start" else "Stopped"):
        return _fail("already-started", 1056) if verb == "start" else _fail("already-stopped", 1062)
    item["state"] = "Started" if verb == "start" else "Stopped"
    if kind == "apppool" and verb == "stop":
        s["workers"] = [w for w in s["workers"] if w["pool"] != item["name"]]
    print(f'"{item["name"]}" successfully {"started" if verb == "start" else "stopped"}.')
    return 0


def main(argv: list[str]) -> int:
    with state("appcmd") as s:
        if "fail" in s and s["fail"].get("appcmd"):
            print(s["fail"]["appcmd"])
            return 5
        if argv[:2] == ["list", "request"] and s.get("request_monitor") is False:
            return _fail("not-implemented", 1)
        if argv[:2] == ["list", "site"] and s.get("list_site_file"):
            emit(recorded_bytes(s["list_site_file"]))
            return 0
        if argv[:1] == ["list"] and "/xml" in argv:
            sys.stdout.write(_list(argv[1], s))
            return 0
        if len(argv) == 3 and argv[0] in ("start", "stop", "recycle") and argv[1] in ("site", "apppool"):
            return _change(argv[0], argv[1], argv[2], s)
    print(f"ERROR ( message:Unknown command {' '.join(argv)!r} in the fake. )")
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
