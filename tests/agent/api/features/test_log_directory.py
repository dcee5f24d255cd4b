"""Security review: a site's log directory must be writable through the file locations (the host writes there)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from agent.hosting.embedded.model import read_server
from agent.hosting.embedded.supervisor.w3c import SiteLog, file_name
from agent.keys import CONFIG_STORE
from tests.agent.api.features.helpers import feature_at, make_site

LOGGING = {spec.endpoint: spec for spec in FEATURES}["logging"]


async def _patch(api: TestClient[Any, Any], content_dir: Path, directory: str) -> tuple[int, dict[str, Any]]:
    await make_site(api, content_dir)
    site = await feature_at(api, LOGGING, "Feat")
    resp = await api.patch(f"{LOGGING.path}/{site['id']}", json={"directory": directory})
    return resp.status, await resp.json(content_type=None)


async def test_directory_outside_locations_is_refused(api: TestClient[Any, Any], content_dir: Path,
                                                      tmp_path: Path) -> None:
    outside = tmp_path / "not-a-location" / "anywhere"
    status, body = await _patch(api, content_dir, str(outside))
    assert status == 403 and body["name"] == "directory", body
    assert not outside.parent.exists()


async def test_link_inside_a_location_to_outside_is_refused(api: TestClient[Any, Any], content_dir: Path,
                                                            state_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", state_dir / "inetpub" / "link")
    status, body = await _patch(api, content_dir, str(state_dir / "inetpub" / "link" / "logs"))
    assert status == 403, body


@pytest.mark.parametrize("directory", ["relative/logs", "/x/../etc"])
async def test_unnormalised_directory_is_refused(api: TestClient[Any, Any], content_dir: Path,
                                                 directory: str) -> None:
    status, body = await _patch(api, content_dir, directory.replace("/x", str(content_dir)))
    # A relative path is a Windows form the host keeps under its state directory; `..` is refused.
    assert status == (200 if directory.startswith("relative") else 400), body


async def test_writable_location_and_windows_forms_are_accepted(api: TestClient[Any, Any], content_dir: Path,
                                                                state_dir: Path, agent_app: Any) -> None:
    inside = state_dir / "inetpub" / "logs" / "mine"
    status, body = await _patch(api, content_dir, str(inside))
    assert status == 200 and body["directory"] == str(inside), body
    resp = await api.patch(f"{LOGGING.path}/{body['id']}", json={"directory": "%SystemDrive%\\inetpub\\logs\\x"})
    assert resp.status == 200
    spec = next(s for s in read_server(agent_app[CONFIG_STORE], "127.0.0.1").sites.values() if s.name == "Feat")
    log = SiteLog(spec, state_dir)
    # A Windows form stays under the state directory: the inetpub tree maps to state_dir/inetpub.
    assert log.directory.parent == state_dir / "inetpub" / "logs" / "x"


def test_log_file_link_is_not_followed(tmp_path: Path, agent_app: Any, state_dir: Path) -> None:
    """A link planted as today's log file does not redirect the host's writes (O_NOFOLLOW)."""
    spec = next(iter(read_server(agent_app[CONFIG_STORE], "127.0.0.1").sites.values()))
    log = SiteLog(spec, state_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    now = datetime.now(UTC)
    log.directory.mkdir(parents=True, exist_ok=True)
    target = log.directory / file_name(spec.log, now)
    os.symlink(victim, target)
    with pytest.raises(OSError):
        log._target(now)
    log.close()
    assert victim.read_text() == "untouched"
