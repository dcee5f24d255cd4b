"""The iisfleet wheel the bootstrap installs: built once from this controller's own distribution, then cached.

A wheel of matching version already in the cache directory is used as it is (an operator can drop one there
for controllers installed from an index). Otherwise the wheel is built with `pip wheel --no-deps` from the
source directory the installed distribution points to (an editable or local-directory install). Dependencies
are not bundled: the target's pip resolves them from its own package index.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from controller.bootstrap.errors import BootstrapError

DISTRIBUTION = "iisfleet"
PACKAGES = ("agent", "controller", "shared")
BUILD_TIMEOUT = 300.0


def source_dir(distribution: str = DISTRIBUTION) -> Path | None:
    """The local source directory this distribution was installed from (PEP 610 direct_url.json), if any."""
    # A source checkout on sys.path may show its own *.egg-info first, which has no direct_url.json.
    for dist in metadata.distributions(name=distribution):
        raw = dist.read_text("direct_url.json")
        if not raw:
            continue
        info = json.loads(raw)
        url = urlparse(str(info.get("url", "")))
        path = Path(unquote(url.path))
        if url.scheme == "file" and "dir_info" in info and (path / "pyproject.toml").exists():
            return path
    return None


def _newest_source(source: Path) -> float:
    """The newest modification time of the project's sources (a cached wheel older than this is stale)."""
    times = [(source / "pyproject.toml").stat().st_mtime]
    for package in PACKAGES:
        times.extend(path.stat().st_mtime for path in (source / package).rglob("*.py"))
    return max(times)


def cached_wheel(cache_dir: Path, version: str) -> Path | None:
    """The newest cached wheel of this version."""
    wheels = sorted(cache_dir.glob(f"{DISTRIBUTION}-{version}-*.whl"), key=lambda path: path.stat().st_mtime)
    return wheels[-1] if wheels else None


def _usable_cached(cache_dir: Path, version: str, source: Path | None) -> Path | None:
    """A cached wheel that is not older than the sources; stale ones are deleted."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cached_wheel(cache_dir, version)
    if cached is not None and (source is None or cached.stat().st_mtime >= _newest_source(source)):
        return cached
    for stale in cache_dir.glob(f"{DISTRIBUTION}-{version}-*.whl"):
        stale.unlink()
    return None


async def installed_wheel(cache_dir: Path) -> Path:
    """A wheel of the running iisfleet: from the cache, else built from the directory it was installed from."""
    return await ensure_wheel(cache_dir, source=source_dir(), version=metadata.version(DISTRIBUTION))


async def ensure_wheel(cache_dir: Path, *, source: Path | None, version: str) -> Path:
    """A wheel of `version`: from the cache, else built from `source`."""
    cached = await asyncio.to_thread(_usable_cached, cache_dir, version, source)
    if cached is not None:
        return cached
    if source is None:
        raise BootstrapError(
            f"no {DISTRIBUTION} {version} wheel to install: this controller was not installed from a source "
            f"directory; put {DISTRIBUTION}-{version}-py3-none-any.whl into {cache_dir}"
        )
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(cache_dir), str(source)]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), BUILD_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BootstrapError(f"building the {DISTRIBUTION} wheel took longer than {BUILD_TIMEOUT:.0f} s") from None
    built = cached_wheel(cache_dir, version)
    if process.returncode != 0 or built is None:
        tail = output.decode(errors="replace").strip().splitlines()[-10:]
        raise BootstrapError(f"building the {DISTRIBUTION} wheel from {source} failed: " + " | ".join(tail))
    return built
