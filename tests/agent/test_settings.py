"""appsettings.json: first-run defaults, and errors that name the offending setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.settings import SettingsError, load_settings


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_first_run_writes_defaults_with_host_id(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "appsettings.json")
    written = json.loads((tmp_path / "appsettings.json").read_text())
    assert written["host_id"] == settings.host_id != ""
    assert written["security"]["require_windows_authentication"] is False
    assert settings.files.locations[0].claims == ["read", "write"]
    assert load_settings(tmp_path / "appsettings.json").host_id == settings.host_id  # stable across starts


def test_missing_host_id_is_generated_and_persisted(tmp_path: Path) -> None:
    path = _write(tmp_path / "appsettings.json", {"host_id": "", "security": {"require_windows_authentication": False},
                                                  "custom": {"kept": True}})
    settings = load_settings(path)
    written = json.loads(path.read_text())
    assert written["host_id"] == settings.host_id and settings.host_id
    assert written["custom"] == {"kept": True}  # an operator's own members survive the rewrite


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ({"security": {"require_windows_authentication": "maybe"}}, "security.require_windows_authentication"),
        ({"security": {"require_windows_authentication": True}}, "require_windows_authentication"),
        ({"security": {"require_windows_authentication": False}, "urls": "http://*:80"}, "urls"),
        ({"security": {"require_windows_authentication": False},
          "files": {"locations": [{"path": "/srv", "claims": ["execute"]}]}}, "files.locations.0.claims"),
        ({"security": {"require_windows_authentication": False}, "host_id": "not-a-guid"}, "host_id"),
        ({"security": {"require_windows_authentication": False}, "auditing": {"max_files": 0}}, "auditing.max_files"),
    ],
)
def test_invalid_settings_name_the_setting(tmp_path: Path, content: dict[str, object], named: str) -> None:
    path = _write(tmp_path / "appsettings.json", content)
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(path)


def test_agent_refuses_to_start_with_invalid_settings(tmp_path: Path) -> None:
    _write(tmp_path / "appsettings.json", {"security": {"require_windows_authentication": True}})
    result = subprocess.run([sys.executable, "-m", "iisfleet", "agent", "run", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "require_windows_authentication" in result.stderr
    assert "not Windows" in result.stderr


def test_key_create_prints_only_the_token(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "iisfleet", "agent", "key", "create", "--state-dir",
                             str(tmp_path), "--purpose", "script"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and len(lines[0]) == 54  # 40 random bytes, base64url without padding
    assert lines[0] not in (tmp_path / "api-keys.json").read_text()
