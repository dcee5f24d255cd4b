"""The hosting layer's contract and the embedded host's two-process split, as imports and behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.hosting.base import Host, UnavailableHost
from shared.errors import ServiceUnavailable


def loaded_by(setup: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of `prefixes` that a fresh interpreter has loaded after running `setup`."""
    probe = f"import sys; {setup}; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = out.stdout.strip()
    return [] if loaded == "[]" else loaded.strip("[]").replace("'", "").split(", ")


def test_a_worker_process_loads_no_supervisor_code() -> None:
    setup = "import agent.hosting.embedded.worker.process"
    assert loaded_by(setup, ("agent.hosting.embedded.supervisor", "agent.monitoring", "agent.api")) == []


def test_the_supervisor_loads_no_worker_code() -> None:
    assert loaded_by("import agent.hosting.embedded.supervisor.host", ("agent.hosting.embedded.worker",)) == []


async def test_without_a_backend_there_is_no_snapshot_and_no_server_control() -> None:
    host: Host = UnavailableHost()
    assert host.snapshot() is None
    for action in (host.start_server, host.stop_server):
        with pytest.raises(ServiceUnavailable) as info:
            await action()
        assert info.value.status == 503 and info.value.detail and "web server" in info.value.detail


def test_the_worker_zygote_preloads_no_api_only_libraries() -> None:
    # Every module the zygote imports is resident in every worker: keep the API's libraries out of it.
    setup = "import agent.hosting.embedded.worker.zygote as z; z.preload()"
    unwanted = ("pydantic", "psutil", "agent.settings", "agent.hosting.embedded.supervisor", "agent.api")
    assert loaded_by(setup, unwanted) == []
