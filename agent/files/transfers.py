"""Copy and move jobs: run on worker threads, staged so a failure leaves no partial target.

A copy first builds the complete result in a hidden staging entry next to the target
(`.iisfleet-copy-<id>`), then renames it into place: a new target appears whole, an existing file is
replaced in one rename, and an existing directory receives the staged entries by rename (upstream merges
directories). Any failure, such as a full disk, removes the staging entry and leaves the target as it was.
A move within one file system is a rename; across file systems it is a staged copy followed by removal of
the source. Symbolic links inside a tree are copied as links, never followed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass

from agent.files.paths import STAGING_PREFIX

BLOCK = 8 * 1024 * 1024

Progress = Callable[[int], None]
"""Called with the number of bytes just copied."""


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """What one job does: copy or move `source` to `target`."""

    kind: str
    source: str
    target: str
    staging_tag: str


def tree_size(path: str) -> int:
    """Bytes in a file, or in every regular file under a directory (links not followed)."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                entry = os.lstat(os.path.join(root, name))
                if stat.S_ISREG(entry.st_mode):
                    total += entry.st_size
    return total


def copy_file(source: str, target: str, progress: Progress) -> None:
    """Copy bytes in BLOCK pieces in the kernel where it can (sendfile), reporting progress, then the times."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        offset = 0
        try:
            while True:
                sent = os.sendfile(dst.fileno(), src.fileno(), offset, BLOCK)
                if sent == 0:
                    break
                offset += sent
                progress(sent)
        except OSError as err:
            if offset or err.errno not in (22, 38, 95):  # EINVAL/ENOSYS/EOPNOTSUPP: no sendfile between these
                raise
            while chunk := src.read(BLOCK):
                dst.write(chunk)
                progress(len(chunk))
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(source, target)


def copy_tree(source: str, target: str, progress: Progress) -> None:
    """Copy a directory tree to a path that does not exist yet; links are recreated as links."""
    os.mkdir(target)
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        out = target if rel == "." else os.path.join(target, rel)
        for name in list(dirs):
            src = os.path.join(root, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), os.path.join(out, name))
                dirs.remove(name)  # os.walk does not descend links anyway; keep it explicit
            else:
                os.mkdir(os.path.join(out, name))
        for name in files:
            src, dst = os.path.join(root, name), os.path.join(out, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif os.path.isfile(src):
                copy_file(src, dst, progress)
    for root, _dirs, _files in os.walk(source):
        rel = os.path.relpath(root, source)
        with contextlib.suppress(OSError):
            shutil.copystat(root, target if rel == "." else os.path.join(target, rel))


def merge_into(source: str, target: str) -> None:
    """Move every entry of directory `source` into directory `target` by rename, replacing files."""
    for name in os.listdir(source):
        src, dst = os.path.join(source, name), os.path.join(target, name)
        if os.path.isdir(src) and not os.path.islink(src) and os.path.isdir(dst) and not os.path.islink(dst):
            merge_into(src, dst)
        else:
            os.replace(src, dst)
    os.rmdir(source)


def remove(path: str) -> None:
    """Delete a file, link or directory tree; nothing there is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=False)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def staged_copy(plan: TransferPlan, progress: Progress) -> None:
    """Copy into a staging entry beside the target, then put it in place; on failure remove the staging."""
    staging = os.path.join(os.path.dirname(plan.target), f"{STAGING_PREFIX}copy-{plan.staging_tag}")
    try:
        if os.path.isdir(plan.source):
            copy_tree(plan.source, staging, progress)
        else:
            copy_file(plan.source, staging, progress)
        if os.path.isdir(staging) and os.path.isdir(plan.target):
            merge_into(staging, plan.target)
        else:
            os.replace(staging, plan.target)
    except BaseException:
        with contextlib.suppress(OSError):
            remove(staging)
        raise


def run(plan: TransferPlan, progress: Progress) -> None:
    """Carry out a copy or a move (the body of a worker-thread job)."""
    if plan.kind == "copy":
        staged_copy(plan, progress)
        return
    same_device = os.stat(plan.source).st_dev == os.stat(os.path.dirname(plan.target)).st_dev
    if not same_device:
        staged_copy(plan, progress)
        remove(plan.source)
    elif os.path.isdir(plan.source) and os.path.isdir(plan.target):
        merge_into(plan.source, plan.target)
    else:
        os.replace(plan.source, plan.target)
