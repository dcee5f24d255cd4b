"""ConfigReader: a worker's read-only view of applicationHost.config that follows the agent's saves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.iisconfig import ConfigError, ConfigReader, ConfigStore

DEFAULT_DOCUMENT = "system.webServer/defaultDocument"
SITES = "system.applicationHost/sites"


def _replace(path: Path, data: bytes) -> None:
    """Swap the file by rename, as the agent saves it."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def test_it_reads_the_agent_file(store: ConfigStore) -> None:
    reader = ConfigReader(store.path)
    reader.load()
    assert reader.generation == 1
    site = reader.section(SITES).collection().find(name="Intranet")
    assert site is not None and site.get("id") == 2
    files = reader.effective_section(DEFAULT_DOCUMENT, "Intranet").child("files").collection()
    assert [f.get("value") for f in files] == ["home.aspx"]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigReader(tmp_path / "missing.config").load()


def test_its_views_refuse_writes(store: ConfigStore) -> None:
    reader = ConfigReader(store.path)
    reader.load()
    with pytest.raises(ConfigError, match="read-only"):
        reader.section(DEFAULT_DOCUMENT).set("enabled", False)
    with pytest.raises(ConfigError, match="read-only"):
        reader.section(DEFAULT_DOCUMENT, "Api").child("files").collection().add(value="x.html")
    with pytest.raises(ConfigError, match="read-only"):
        reader.root.child("system.webServer").ensure()
    assert store.section(DEFAULT_DOCUMENT).readonly is False  # the store's views stay writable


def test_it_follows_the_agent_saves(store: ConfigStore) -> None:
    reader = ConfigReader(store.path)
    reader.load()
    assert reader.refresh_if_changed() is False
    with store.write_sync() as cfg:
        cfg.section(DEFAULT_DOCUMENT, "Intranet").child("files").collection().add(value="late.html")
    assert reader.refresh_if_changed() is True
    assert reader.generation == 2
    files = reader.effective_section(DEFAULT_DOCUMENT, "Intranet/app").child("files").collection()
    assert [f.get("value") for f in files] == ["home.aspx", "late.html"]
    assert reader.refresh_if_changed() is False


def test_the_same_bytes_under_a_new_inode_are_no_change(store: ConfigStore) -> None:
    reader = ConfigReader(store.path)
    reader.load()
    _replace(store.path, store.path.read_bytes())
    assert reader.refresh_if_changed() is False
    assert reader.generation == 1


def test_a_broken_file_keeps_the_previous_configuration(store: ConfigStore, caplog: pytest.LogCaptureFixture) -> None:
    reader = ConfigReader(store.path)
    reader.load()
    _replace(store.path, b"<configuration><unclosed></configuration>")
    assert reader.refresh_if_changed() is False
    assert "keeping the previous configuration" in caplog.text
    assert reader.generation == 1
    assert reader.section(SITES).collection().find(name="Api") is not None
    _replace(store.path, b'<!DOCTYPE configuration [<!ENTITY x "y">]><configuration/>')
    assert reader.refresh_if_changed() is False
    assert reader.section(SITES).collection().find(name="Api") is not None
