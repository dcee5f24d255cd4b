"""Helpers for hosting tests: a config store on a temp dir, loopback addresses, free ports, raw HTTP."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.iisconfig import ConfigStore, write_stock_config

SITES = "system.applicationHost/sites"
POOLS = "system.applicationHost/applicationPools"
_HOSTS = itertools.count(random.randrange(2, 200))


def loopback() -> str:
    """A fresh 127.0.0.x address for one test."""
    return f"127.0.0.{next(_HOSTS) % 250 + 2}"


def free_port(address: str) -> int:
    """A port nothing listens on at `address` right now (never 80)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write `files` (relative path -> text or bytes) under `root`, making folders as needed."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)


def make_store(root: Path, port: int, content: Path | None = None) -> ConfigStore:
    """A stock applicationHost.config whose Default Web Site listens on *:port and serves `content`."""
    content = content or root / "wwwroot"
    content.mkdir(parents=True, exist_ok=True)
    path = root / "applicationHost.config"
    write_stock_config(path, content)
    store = ConfigStore(path)
    store.load()
    with store.write_sync() as cfg:
        site = cfg.section(SITES).collection().find(name="Default Web Site")
        assert site is not None
        next(iter(site.collection("bindings"))).set("bindingInformation", f"*:{port}:")
    return store


def edit(store: ConfigStore, change: Callable[[ConfigStore], Any]) -> None:
    """Apply one change in a write transaction."""
    with store.write_sync() as cfg:
        change(cfg)


def add_site(cfg: ConfigStore, name: str, site_id: int, binding: str, physical: Path, pool: str) -> None:
    """Add a site with one http binding and a root application in `pool`."""
    site = cfg.section(SITES).collection().add(name=name, id=site_id)
    site.collection("bindings").add(protocol="http", bindingInformation=binding)
    app = site.collection().add(path="/", applicationPool=pool)
    app.collection().add(path="/", physicalPath=str(physical))


def pool_element(cfg: ConfigStore, name: str) -> Any:
    """The <add> element of an application pool."""
    pool = cfg.section(POOLS).collection().find(name=name)
    assert pool is not None
    return pool


async def raw_request(address: str, port: int, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes (or the timeout)."""
    reader, writer = await asyncio.open_connection(address, port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        try:
            async with asyncio.timeout(read_timeout):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie we already reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
