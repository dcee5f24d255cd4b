"""Through the API: a configuration change whose save fails is answered with an error and never saved later."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.iisconfig import store as store_module

POOLS = "/api/webserver/application-pools"


def _config(state_dir: Path) -> str:
    return (state_dir / "applicationHost.config").read_text("utf-8-sig")


async def test_failed_save_is_not_saved_by_the_next_write(
    api: TestClient[Any, Any], state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = store_module.atomic_write_bytes

    def disk_full(path: Path, data: bytes, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "atomic_write_bytes", disk_full)
    response = await api.post(POOLS, json={"name": "doomed_pool"})
    assert response.status >= 500
    assert (await response.json(content_type=None))["status"] == response.status  # upstream problem body
    monkeypatch.setattr(store_module, "atomic_write_bytes", real_write)
    names = {pool["name"] for pool in (await (await api.get(POOLS)).json())["app_pools"]}
    assert "doomed_pool" not in names
    assert (await api.post(POOLS, json={"name": "kept_pool"})).status == 201
    saved = _config(state_dir)
    assert 'name="kept_pool"' in saved and "doomed_pool" not in saved
