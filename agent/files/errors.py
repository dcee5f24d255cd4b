"""Errors of the files API that the shared tree has no class for (412, 416, 507)."""

from __future__ import annotations

import errno

from shared.errors import ApiError, ServerError


class PreconditionFailed(ApiError):
    """An If-Match / If-None-Match / If-Unmodified-Since header did not hold; `name` is the header."""

    status = 412
    title = "Precondition Failed"


class InvalidRange(ApiError):
    """A Range header that is malformed or cannot be satisfied."""

    status = 416
    title = "Invalid Range"


class InsufficientStorage(ApiError):
    """The disk filled up; nothing partial was left behind."""

    status = 507
    title = "Insufficient Storage"


def os_error(err: OSError, name: str) -> ApiError:
    """The problem body for a file-system failure: 507 for a full disk or quota, else a 500 naming the path."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(name=name, detail="There is not enough space on the disk.")
    return ServerError(name=name, detail=err.strerror or str(err))
