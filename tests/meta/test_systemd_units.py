"""The systemd units run every service unprivileged and hardened (docs/security-agent.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = ("agent", "controller", "worker")


def directives(name: str) -> dict[str, list[str]]:
    """Every `Key=value` of the unit's sections (repeated keys keep all values); continuation lines joined."""
    text = (UNITS / f"iisfleet-{name}.service").read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith(("#", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_unprivileged_and_hardened(name: str) -> None:
    unit = directives(name)
    assert unit["User"][0] not in ("", "root") and unit["Group"][0] not in ("", "root")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "StateDirectoryMode": "0700",
        "SystemCallErrorNumber": "EPERM",
    }.items():
        assert unit[key] == [value], key


@pytest.mark.parametrize("name", ["controller", "worker"])
def test_controller_and_worker_have_no_capabilities(name: str) -> None:
    unit = directives(name)
    assert unit["CapabilityBoundingSet"] == [""] and unit["AmbientCapabilities"] == [""]


def test_agent_keeps_only_net_bind_service_and_reads_the_join_token_from_a_file() -> None:
    unit = directives("agent")
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["LoadCredential"] == ["join-token:/etc/iisfleet/join-token"]
    assert "--join-token " not in unit["ExecStart"][0]
    example = (UNITS / "agent.env.example").read_text()
    assert "--join-token-file /run/credentials/iisfleet-agent.service/join-token" in example
    assert not re.search(r"--join-token\s", example)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", SERVICES)
def test_exposure_is_low(name: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / f"iisfleet-{name}.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    if match is None:
        pytest.skip(f"systemd-analyze cannot rate units offline here: {result.stderr.strip()[:200]}")
    assert float(match.group(1)) <= 2.5, result.stdout[-2000:]
