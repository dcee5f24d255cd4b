"""Fixtures for the IIS host tests: recorded fakes of appcmd.exe, sc.exe and typeperf.exe over a state JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.hosting.iis import IisHost, IisTools

HERE = Path(__file__).resolve().parent
FAKES = HERE / "fakes"
RECORDED = HERE / "recorded"


def initial_state() -> dict[str, Any]:
    """The machine the recorded outputs describe (same names, ids and pids as recorded/*.xml)."""
    return {
        "sites": [
            {"name": "Default Web Site", "id": 1, "bindings": "http/*:80:", "state": "Started"},
            {"name": "Contoso & Co", "id": 2, "bindings": "http/*:8080:contoso.com", "state": "Stopped"},
        ],
        "pools": [
            {"name": "DefaultAppPool", "state": "Started"},
            {"name": ".NET v4.5 Classic", "state": "Started", "pipeline": "Classic"},
            {"name": "ContosoPool", "state": "Stopped", "runtime": ""},
        ],
        "workers": [{"pid": 3920, "pool": "DefaultAppPool"}, {"pid": 4012, "pool": ".NET v4.5 Classic"}],
        "requests": [
            {
                "id": "fb0000008000000e",
                "pid": 3920,
                "site_id": 1,
                "url": "/wait.aspx?time=10000",
                "verb": "GET",
                "client": "::1",
                "time": 4276,
                "stage": "ExecuteRequestHandler",
                "module": "IsapiModule",
            },
        ],  # fmt: skip
        "w3svc": 4,
        "calls": [],
        "hang": [],
    }


class FakeMachine:
    """The state file the fakes read and write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The current state."""
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def update(self, **changes: Any) -> None:
        """Change members of the state."""
        data = self.read()
        data.update(changes)
        self.path.write_text(json.dumps(data), encoding="utf-8")

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """Every recorded argv (after the tool name), optionally of one tool only."""
        return [c[1:] if tool else c for c in self.read()["calls"] if tool is None or c[0] == tool]

    def clear_calls(self) -> None:
        """Forget the calls so far."""
        self.update(calls=[])


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    """A fresh fake Windows machine."""
    path = tmp_path / "iis-state.json"
    path.write_text(json.dumps(initial_state()), encoding="utf-8")
    monkeypatch.setenv("IISFLEET_FAKE_STATE", str(path))
    return FakeMachine(path)


def tools(timeout: float = 10.0) -> IisTools:
    """IisTools pointing at the fakes, run by this interpreter; non-UTF-8 output is read as OEM cp850."""
    return IisTools(appcmd=FAKES / "appcmd.py", typeperf=FAKES / "typeperf.py", sc=FAKES / "sc.py",
                    reg=FAKES / "reg.py", launcher=(sys.executable,), timeout=timeout, settle=10.0,
                    codepage="cp850")  # fmt: skip


@pytest.fixture
def host(machine: FakeMachine) -> IisHost:
    """An IisHost on the fakes whose cache never goes stale by itself during a test."""
    return IisHost(object(), tools(), status_ttl=3600.0, counters_ttl=3600.0)
