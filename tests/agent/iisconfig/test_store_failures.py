"""A commit that fails (disk full) rolls the in-memory configuration back; the next write never saves it."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.iisconfig import ConfigStore, write_stock_config
from agent.iisconfig import store as store_module
from tests.tmpfs import tmpfs

POOLS = "system.applicationHost/applicationPools"


def _pools(cfg: ConfigStore) -> set[str]:
    return {pool.get("name") for pool in cfg.section(POOLS).collection()}


def _stock(directory: Path) -> ConfigStore:
    path = directory / "applicationHost.config"
    write_stock_config(path, directory / "wwwroot")
    cfg = ConfigStore(path, backup_dir=directory / "history")
    cfg.load()
    return cfg


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs; skipped where mounting is not possible (not root)."""
    with tmpfs(tmp_path / "tiny", "256k") as mount:
        yield mount


def _fill(directory: Path) -> Path:
    """Fill the file system up to the last byte (unbuffered, so closing cannot fail)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_rolls_back_and_next_write_is_clean(tiny_disk: Path) -> None:
    cfg = _stock(tiny_disk)
    before = cfg.path.read_bytes()
    generation = cfg.generation
    filler = _fill(tiny_disk)
    with pytest.raises(OSError) as raised, cfg.write_sync() as tx:
        tx.section(POOLS).collection().add(name="Doomed" + "x" * 2000)
    assert raised.value.errno == errno.ENOSPC
    assert not any(name.startswith("Doomed") for name in _pools(cfg))
    assert cfg.path.read_bytes() == before and cfg.generation > generation
    filler.unlink()
    with cfg.write_sync() as tx:
        tx.section(POOLS).collection().add(name="Kept")
    saved = cfg.path.read_text("utf-8-sig")
    assert 'name="Kept"' in saved and "Doomed" not in saved
    assert not list(tiny_disk.glob("*.tmp*"))  # the failed atomic write left nothing behind


async def test_failed_async_save_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _stock(tmp_path)
    real_write = store_module.atomic_write_bytes

    def disk_full(path: Path, data: bytes, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "atomic_write_bytes", disk_full)
    with pytest.raises(OSError):
        async with cfg.write() as tx:
            tx.section(POOLS).collection().add(name="Doomed")
    assert "Doomed" not in _pools(cfg) and not cfg.document.dirty
    monkeypatch.setattr(store_module, "atomic_write_bytes", real_write)
    async with cfg.write() as tx:
        tx.section(POOLS).collection().add(name="Kept")
    saved = cfg.path.read_text("utf-8-sig")
    assert 'name="Kept"' in saved and "Doomed" not in saved
    # A write that changes nothing must not resurrect it either.
    async with cfg.write():
        pass
    fresh = ConfigStore(cfg.path)
    fresh.load()
    assert "Doomed" not in _pools(fresh)
