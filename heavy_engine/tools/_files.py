"""`read_file`, `write_file`, `list_files`: a per-request scratch directory and nothing else.

Invariant: a path is accepted only if it is relative, has no `..` part, and still lies inside the
scratch directory once every symlink is resolved. The work is synchronous on purpose: files are
small (capped by `scratch_max_bytes`), and with no await between the quota check and the write,
concurrent agents of one request cannot race past the quota.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from pydantic import BaseModel, Field

from ._base import Tool, ToolContext, ToolFailed, ToolRefused

MAX_READ_BYTES = 1_000_000
MAX_FILES = 500
MAX_LISTED = 200


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
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise ToolRefused(f"{raw} contains '..'; paths must stay inside the scratch directory")
    root = ctx.scratch_dir.resolve()
    resolved = (root / text).resolve()
    if not resolved.is_relative_to(root):
        raise ToolRefused(f"{raw} leads outside the scratch directory (through a symlink)")
    return resolved


def _relative(ctx: ToolContext, path: Path) -> str:
    return path.relative_to(ctx.scratch_dir.resolve()).as_posix()


def _usage(root: Path) -> tuple[int, int]:
    """(bytes, files) currently in the scratch directory, symlinks not followed."""
    size = count = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            size += st.st_size
            count += 1
    return size, count


def _listing(ctx: ToolContext, root: Path) -> list[str]:
    """Every file under `root` with its size; symlinks are shown, never followed."""
    entries: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(files) + links:
            full = Path(dirpath) / name
            if full.is_symlink():
                entries.append(f"{_relative(ctx, full)} (symlink)")
            else:
                entries.append(f"{_relative(ctx, full)} ({full.stat().st_size:,} bytes)")
    return entries


class _ReadParams(BaseModel):
    path: str = Field(description="File path relative to the scratch directory.")


class ReadFile(Tool):
    name = "read_file"
    description = "Read a text file from this request's scratch directory."
    Params = _ReadParams

    async def run(self, params: _ReadParams, ctx: ToolContext) -> str:
        path = scratch_path(ctx, params.path)
        if not path.exists():
            raise ToolFailed(f"no such file: {params.path} (list_files shows what exists)")
        if not path.is_file():
            raise ToolFailed(f"{params.path} is not a file")
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
        path = scratch_path(ctx, params.path)
        if path.is_dir():
            raise ToolFailed(f"{params.path} is a directory")
        data = params.content.encode("utf-8")
        used, files = _usage(ctx.scratch_dir.resolve())
        existing = path.stat().st_size if path.is_file() else 0
        after = used + len(data) - (0 if params.append else existing)
        limit = ctx.settings.scratch_max_bytes
        if after > limit:
            raise ToolRefused(
                f"writing {len(data):,} bytes would bring the scratch directory to {after:,} "
                f"bytes, over its {limit:,}-byte limit"
            )
        if not path.exists() and files >= MAX_FILES:
            raise ToolRefused(f"the scratch directory already holds {MAX_FILES} files")
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a symlink planted after the check must not redirect the write.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if params.append else os.O_TRUNC)
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        verb = "appended" if params.append else "wrote"
        return f"{verb} {len(data):,} bytes to {_relative(ctx, path)}"


class _ListParams(BaseModel):
    path: str = Field(default=".", description="Folder relative to the scratch directory.")


class ListFiles(Tool):
    name = "list_files"
    description = "List the files in this request's scratch directory (or a folder inside it)."
    Params = _ListParams

    async def run(self, params: _ListParams, ctx: ToolContext) -> str:
        root = scratch_path(ctx, params.path, allow_root=True)
        if not root.is_dir():
            raise ToolFailed(f"no such folder: {params.path}")
        entries = _listing(ctx, root)
        if not entries:
            return "The scratch directory is empty." if root == ctx.scratch_dir.resolve() else (
                f"{params.path} is empty.")
        shown = entries[:MAX_LISTED]
        more = f"\n[{len(entries) - MAX_LISTED} more not shown]" if len(entries) > MAX_LISTED else ""
        return "\n".join(shown) + more
