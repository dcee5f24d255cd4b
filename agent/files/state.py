"""FilesRuntime: the mutable state of the files API (uploads, download links, jobs) behind one AppKey."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from agent.files.downloads import DownloadLinks
from agent.files.operations import Operations
from agent.files.uploads import Uploads


class FilesRuntime:
    """Everything the files handlers keep between requests."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.uploads = Uploads(state_dir)
        self.downloads = DownloadLinks()
        self.operations = Operations()
        self.settings_lock = asyncio.Lock()
        """Serialises edits of appsettings.json's `files` section."""

    def close(self) -> None:
        """Release the worker threads and the staging files kept open between chunks."""
        self.operations.close()
        self.uploads.close()


# Beside its type, not in agent.keys: files_runtime_ctx below reads it, and agent.keys would import this module.
FILES_RUNTIME = web.AppKey("files_runtime", FilesRuntime)


async def files_runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx entry: close the runtime's threads on shutdown (build_app sets app[FILES_RUNTIME])."""
    yield
    if FILES_RUNTIME in app:
        app[FILES_RUNTIME].close()
