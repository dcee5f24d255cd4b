"""The hosting layer's contract and the embedded host's two-process split, as imports and behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.hosting.base import Host, UnavailableHost
from shared.errors import ServiceUnavailable


def test_a_worker_process_loads_no_supervisor_code() -> None:
    probe = (
        "import sys, agent.hosting.embedded.worker.process; "
        "print(sorted(m for m in sys.modules if m.startswith(('agent.hosting.embedded.supervisor', "
        "'agent.monitoring', 'agent.api'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_supervisor_loads_no_worker_code() -> None:
    probe = (
        "import sys, agent.hosting.embedded.supervisor.host; "
        "print(sorted(m for m in sys.modules if m.startswith('agent.hosting.embedded.worker')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


async def test_without_a_backend_there_is_no_snapshot_and_no_server_control() -> None:
    host: Host = UnavailableHost()
    assert host.snapshot() is None
    for action in (host.start_server, host.stop_server):
        with pytest.raises(ServiceUnavailable) as info:
            await action()
        assert info.value.status == 503 and info.value.detail and "web server" in info.value.detail


def test_the_worker_zygote_preloads_no_api_only_libraries() -> None:
    # Every module the zygote imports is resident in every worker: keep the API's libraries out of it.
    probe = (
        "import sys, agent.hosting.embedded.worker.zygote as z; z.preload(); "
        "print(sorted(m for m in ('pydantic', 'psutil', 'agent.settings', 'agent.hosting.embedded.supervisor') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
