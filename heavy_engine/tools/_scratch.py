"""Bookkeeping of a request's scratch directory: its usage, kept incrementally, and its removal.

Invariant: the file tools change the directory only through `ScratchUsage` while holding its
lock, so the byte and entry counts stay exact without walking the tree on every call. Every
walk here is iterative (an explicit stack), so no tree, however deep, raises RecursionError.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("heavy.tools")


@dataclass(slots=True)
class ScratchUsage:
    """Bytes and entries (files and folders) in one scratch directory."""

    bytes: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # file -> size, relative posix paths
    folders: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one waiting thread per request
    guard: threading.Lock = field(default_factory=threading.Lock)  # held by that thread
    counted: bool = False  # what was there before the first call has been counted

    @property
    def entries(self) -> int:
        return len(self.sizes) + len(self.folders)

    def count_existing(self, root: Path, limit: int) -> None:
        """Count what is already in `root` (once; at most `limit` entries are looked at)."""
        self.counted = True
        for rel, st in walk(root, limit):
            if stat.S_ISDIR(st.st_mode):
                self.folders.add(rel)
            else:
                self.sizes[rel] = st.st_size
                self.bytes += st.st_size

    def set_size(self, rel: str, size: int) -> None:
        self.bytes += size - self.sizes.get(rel, 0)
        self.sizes[rel] = size


def walk(root: Path, limit: int) -> list[tuple[str, os.stat_result]]:
    """Up to `limit` entries under `root` (relative path, lstat), sorted per folder, files
    first; symlinks are reported, never followed."""
    out: list[tuple[str, os.stat_result]] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack and len(out) < limit:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in found:
            rel = f"{prefix}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                subfolders.append((rel, st, Path(entry.path)))
            else:
                out.append((rel, st))
        out.extend((rel, st) for rel, st, _path in subfolders)
        stack.extend((path, f"{rel}/") for rel, _st, path in reversed(subfolders))
    return out[:limit]


def remove_tree(root: Path) -> None:
    """Delete `root` and everything in it, however deep; folders made read-only are opened up
    first. Never follows a symlink. Leftovers are logged, never raised."""
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as err:
        log.warning("scratch directory %s could not be removed: %s", root, err)
        return
    # Open folder descriptors with their names, the deepest last: no path ever gets long.
    stack: list[tuple[int, str]] = [(top, "")]
    try:
        while stack:
            fd = stack[-1][0]
            os.chmod(fd, 0o700)  # a read-only folder cannot be emptied
            child = _first_subfolder(fd)
            if child is not None:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                stack.append((os.open(child, flags, dir_fd=fd), child))
                continue
            _, name = stack.pop()
            os.close(fd)
            if stack:  # now empty: remove it from its parent
                os.rmdir(name, dir_fd=stack[-1][0])
        os.rmdir(root)
    except OSError as err:
        log.warning("scratch directory %s could not be removed entirely: %s", root, err)
    finally:
        for fd, _ in stack:
            os.close(fd)


def _first_subfolder(fd: int) -> str | None:
    """Unlink every non-folder in `fd`; the name of one subfolder, or None when none is left."""
    for name in os.listdir(fd):
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            return name
        os.unlink(name, dir_fd=fd)
    return None
