"""Opening upload staging files without following links an attacker may have planted.

Staging files live next to their target, in directories that other local users (site owners) may be able to
write. The agent often runs with more rights than they have, so a symlink or hard link planted at a staging
name must never make it write, truncate or chmod another file: staging files are created with
`O_CREAT | O_EXCL | O_NOFOLLOW`, reopened with `O_NOFOLLOW` and checked to be a plain, single-link file the
agent owns, and their modes are changed through the descriptor (fchmod), never by path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where creating symlinks needs privilege
_BINARY = getattr(os, "O_BINARY", 0)
STAGING_MODE = 0o600


class UnsafeStagingFile(OSError):
    """The staging path is a link or not a file this agent made; nothing was written through it."""


def _check(fd: int, path: str) -> None:
    st = os.fstat(fd)
    owner = getattr(os, "geteuid", None)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or (owner is not None and st.st_uid != owner()):
        raise UnsafeStagingFile(errno.EPERM, "the staging file is not a plain file owned by the agent", path)


def create_staging(path: str) -> int:
    """A new staging file at `path`, open for writing with mode 0600; a leftover entry there is removed first.

    unlink() removes a planted symlink itself, not its target; if something reappears before the exclusive
    create, the create fails instead of following it.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    try:
        fd = os.open(path, flags, STAGING_MODE)
    except FileExistsError:
        os.unlink(path)
        fd = os.open(path, flags, STAGING_MODE)
    try:
        _fchmod(fd, path, STAGING_MODE)  # the umask must not widen or narrow it
        _check(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_staging(path: str, flags: int = os.O_WRONLY) -> int:
    """Reopen an existing staging file; refuses links (ELOOP/UnsafeStagingFile) instead of following them."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _BINARY)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeStagingFile(errno.ELOOP, "the staging file was replaced by a symbolic link", path) from err
        raise
    try:
        _check(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fchmod(fd: int, path: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows before Python 3.13: only the read-only bit exists, and links need privilege
        os.chmod(path, mode)


def adopt_mode(fd: int, path: str, target: str) -> None:
    """Give the open staging file at `path` the mode and (when allowed) the owner of `target`, through `fd`."""
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(target)
        _fchmod(fd, path, st.st_mode & 0o7777)
        if hasattr(os, "fchown"):
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
