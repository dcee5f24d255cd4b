"""Fixtures for the applicationHost.config tests: the project's own fixture copied to a temp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.iisconfig import ConfigStore

# Written for this project; tests/README.md says what it covers.
SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "applicationHost.config"


@pytest.fixture
def sample_path(tmp_path: Path) -> Path:
    """A writable copy of the fixture applicationHost.config (the original stays where it is)."""
    target = tmp_path / "config" / "applicationHost.config"
    target.parent.mkdir()
    shutil.copyfile(SAMPLE, target)
    return target


@pytest.fixture
def store(sample_path: Path) -> ConfigStore:
    """A loaded store over the sample copy."""
    cfg = ConfigStore(sample_path)
    cfg.load()
    return cfg
