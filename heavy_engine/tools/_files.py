"""`read_file`, `write_file`, `list_files`: a per-request scratch directory and nothing else.

Invariant: a path is accepted only if it is relative, has no `..` part, is at most `MAX_DEPTH`
levels deep, and still lies inside the scratch directory once every symlink is resolved. Files
and folders count toward one cap (`MAX_ENTRIES`) and bytes toward `scratch_max_bytes`, both
tracked incrementally by `ScratchUsage`. The file work runs in a worker thread, so the event
loop never waits on the disk; one request's calls take turns (an asyncio lock, so at most one
thread per request, and a thread lock, so a call cancelled by its timeout cannot race the next).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from pydantic import BaseModel, Field

from ._base import Tool, ToolContext, ToolFailed, ToolRefused
from ._scratch import ScratchUsage, walk

MAX_READ_BYTES = 1_000_000
MAX_ENTRIES = 500  # files and folders together
MAX_DEPTH = 16  # path components below the scratch directory, the file name included
MAX_LISTED = 200
_USAGE = "heavy.scratch_usage"  # ToolContext.extra key, private to this module


def scratch_path(ctx: ToolContext, raw: str, *, allow_root: bool = False) -> Path:
    """`raw` resolved inside the scratch directory, or `ToolRefused` saying why not."""
    text = raw.strip()
    if "\x00" in text:
        raise ToolRefused("paths cannot contain NUL characters")
    if not text or text in (".", "./"):
        if allow_root:
            return ctx.scratch_dir.resolve()
        raise ToolFailed("a file name is required")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or text[:1] == "~":
        raise ToolRefused(f"{raw} is an absolute path; use a path relative to the scratch directory")
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if ".." in parts:
        raise ToolRefused(f"{raw} contains '..'; paths must stay inside the scratch directory")
    if len(parts) > MAX_DEPTH:
        raise ToolRefused(f"{raw} is nested {len(parts)} levels deep; at most {MAX_DEPTH}")
    root = ctx.scratch_dir.resolve()
    resolved = (root / text).resolve()
    if not resolved.is_relative_to(root):
        raise ToolRefused(f"{raw} leads outside the scratch directory (through a symlink)")
    return resolved


def _relative(ctx: ToolContext, path: Path) -> str:
    return path.relative_to(ctx.scratch_dir.resolve()).as_posix()


def _usage(ctx: ToolContext) -> ScratchUsage:
    usage = ctx.extra.get(_USAGE)
    if not isinstance(usage, ScratchUsage):
        usage = ctx.extra[_USAGE] = ScratchUsage()
    return usage


async def _off_loop(ctx: ToolContext, work: Callable[[], str]) -> str:
    """`work()` in a worker thread, one call at a time per request."""
    ctx.scratch_dir  # noqa: B018 - made here, on the loop, not in a thread
    usage = _usage(ctx)

    def locked() -> str:
        with usage.guard:
            if not usage.counted:
                usage.count_existing(ctx.scratch_dir.resolve(), 2 * MAX_ENTRIES)
            return work()

    async with usage.lock:
        return await asyncio.to_thread(locked)


class _ReadParams(BaseModel):
    path: str = Field(description="File path relative to the scratch directory.")


class ReadFile(Tool):
    name = "read_file"
    description = "Read a text file from this request's scratch directory."
    Params = _ReadParams

    async def run(self, params: _ReadParams, ctx: ToolContext) -> str:
        return await _off_loop(ctx, lambda: _read(ctx, params.path))


def _read(ctx: ToolContext, raw: str) -> str:
    path = scratch_path(ctx, raw)
    if not path.exists():
        raise ToolFailed(f"no such file: {raw} (list_files shows what exists)")
    if not path.is_file():
        raise ToolFailed(f"{raw} is not a file")
    with path.open("rb") as f:
        data = f.read(MAX_READ_BYTES + 1)
    text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_READ_BYTES:
        text += f"\n[only the first {MAX_READ_BYTES:,} bytes were read]"
    return text


class _WriteParams(BaseModel):
    path: str = Field(description="File path relative to the scratch directory.")
    content: str = Field(description="The text to write.")
    append: bool = Field(default=False, description="Append instead of replacing the file.")


class WriteFile(Tool):
    name = "write_file"
    description = (
        "Write (or append) text to a file in this request's scratch directory, shared by the "
        "agents of the request and deleted when it ends. Creates parent folders."
    )
    Params = _WriteParams

    async def run(self, params: _WriteParams, ctx: ToolContext) -> str:
        return await _off_loop(ctx, lambda: _write(ctx, _usage(ctx), params))


def _write(ctx: ToolContext, usage: ScratchUsage, params: _WriteParams) -> str:
    root = ctx.scratch_dir.resolve()
    path = scratch_path(ctx, params.path)
    if path.is_dir():
        raise ToolFailed(f"{params.path} is a directory")
    missing: list[Path] = []  # folders to make, the deepest first
    parent = path.parent
    while parent != root and not parent.exists():
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise ToolFailed(f"{_relative(ctx, parent)} is a file, not a folder")
    data = params.content.encode("utf-8", errors="replace")  # lone surrogates become '?'
    rel = path.relative_to(root).as_posix()
    existing = path.lstat().st_size if path.is_file() else 0
    after = usage.bytes - usage.sizes.get(rel, 0) + (existing if params.append else 0) + len(
        data)
    limit = ctx.settings.scratch_max_bytes
    if after > limit:
        raise ToolRefused(
            f"writing {len(data):,} bytes would bring the scratch directory to {after:,} "
            f"bytes, over its {limit:,}-byte limit"
        )
    new = len(missing) + (0 if rel in usage.sizes or path.exists() else 1)
    if new and usage.entries + new > MAX_ENTRIES:
        raise ToolRefused(
            f"{params.path} needs {new} new entries; the scratch directory holds at most "
            f"{MAX_ENTRIES} files and folders and has {usage.entries}")
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        usage.folders.add(folder.relative_to(root).as_posix())
    # O_NOFOLLOW: a symlink planted after the check must not redirect the write.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if params.append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        usage.set_size(rel, os.fstat(f.fileno()).st_size)
    verb = "appended" if params.append else "wrote"
    return f"{verb} {len(data):,} bytes to {rel}"


class _ListParams(BaseModel):
    path: str = Field(default=".", description="Folder relative to the scratch directory.")


class ListFiles(Tool):
    name = "list_files"
    description = "List the files in this request's scratch directory (or a folder inside it)."
    Params = _ListParams

    async def run(self, params: _ListParams, ctx: ToolContext) -> str:
        return await _off_loop(ctx, lambda: _list(ctx, params.path))


def _list(ctx: ToolContext, raw: str) -> str:
    """Every file under the folder with its size; symlinks are shown, never followed."""
    root = scratch_path(ctx, raw, allow_root=True)
    if not root.is_dir():
        raise ToolFailed(f"no such folder: {raw}")
    top = ctx.scratch_dir.resolve()
    prefix = "" if root == top else f"{_relative(ctx, root)}/"
    scan = 2 * MAX_ENTRIES
    found = walk(root, scan)
    entries = [f"{prefix}{rel} (symlink)" if os.path.islink(root / rel)
               else f"{prefix}{rel} ({st.st_size:,} bytes)"
               for rel, st in found if not stat.S_ISDIR(st.st_mode)]
    if not entries:
        return "The scratch directory is empty." if root == top else f"{raw} is empty."
    shown = entries[:MAX_LISTED]
    hidden = len(entries) - len(shown)
    more = f"\n[{hidden}{'+' if len(found) >= scan else ''} more not shown]" if hidden else ""
    return "\n".join(shown) + more
