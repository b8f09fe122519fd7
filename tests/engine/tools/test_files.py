"""File tools: confined to the request's scratch directory, whatever path the model invents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heavy_engine.tools import ListFiles, ReadFile, Tool, WriteFile, execute_tool

from .conftest import make_ctx

TOOLS: dict[str, Tool] = {t.name: t for t in (ReadFile(), WriteFile(), ListFiles())}


async def call(scratch: Path, name: str, **args: object) -> str:
    ctx = make_ctx(scratch, scratch_max_bytes=10_000)
    res = await execute_tool(TOOLS[name], name, json.dumps(args), ctx, timeout=5)
    return res.text


def _content(path: Path) -> str:
    return path.read_text()


@pytest.fixture
def outside(tmp_path: Path, scratch: Path) -> Path:
    """A secret next to the scratch directory, and symlinks inside it that point out."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    (scratch / "link.txt").symlink_to(secret)
    (scratch / "up").symlink_to(tmp_path, target_is_directory=True)
    (scratch / "etc").symlink_to("/etc", target_is_directory=True)
    return secret


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("read_file", {"path": "/etc/passwd"}, "refused: /etc/passwd is an absolute path"),
    ("read_file", {"path": "../../etc/passwd"}, "refused: ../../etc/passwd contains '..'"),
    ("read_file", {"path": "notes/../../secret.txt"}, "refused: notes/../../secret.txt contains '..'"),
    ("read_file", {"path": "..\\secret.txt"}, "refused: ..\\secret.txt contains '..'"),
    ("read_file", {"path": "~/.ssh/id_rsa"}, "refused: ~/.ssh/id_rsa is an absolute path"),
    ("read_file", {"path": "C:\\Windows\\win.ini"}, "refused: C:\\Windows\\win.ini is an absolute"),
    ("read_file", {"path": "a\x00b"}, "refused: paths cannot contain NUL characters"),
    # symlinks inside the scratch directory that point out of it
    ("read_file", {"path": "link.txt"}, "refused: link.txt leads outside the scratch directory"),
    ("read_file", {"path": "up/secret.txt"}, "refused: up/secret.txt leads outside"),
    ("read_file", {"path": "etc/passwd"}, "refused: etc/passwd leads outside"),
    ("write_file", {"path": "link.txt", "content": "x"}, "refused: link.txt leads outside"),
    ("write_file", {"path": "up/new.txt", "content": "x"}, "refused: up/new.txt leads outside"),
    ("write_file", {"path": "/tmp/x", "content": "x"}, "refused: /tmp/x is an absolute path"),
    ("write_file", {"path": "../x", "content": "x"}, "refused: ../x contains '..'"),
    ("list_files", {"path": "up"}, "refused: up leads outside the scratch directory"),
    ("list_files", {"path": "/"}, "refused: / is an absolute path"),
    ("list_files", {"path": ".."}, "refused: .. contains '..'"),
    # quota: 10,000 bytes for the whole directory in these tests
    ("write_file", {"path": "big.txt", "content": "x" * 10_001},
     "refused: writing 10,001 bytes would bring the scratch directory to 10,"),
    ("read_file", {"path": "missing.txt"}, "error: no such file: missing.txt"),
])
async def test_paths_outside_scratch_are_refused(
    scratch: Path, outside: Path, name: str, args: dict[str, object], expected: str
) -> None:
    text = await call(scratch, name, **args)
    assert text.startswith(expected), text
    assert "TOPSECRET" not in text
    assert _content(outside) == "TOPSECRET"  # nothing written through a link


async def test_write_read_append_and_list(scratch: Path, outside: Path) -> None:
    assert await call(scratch, "write_file", path="notes/plan.md", content="# Plan\n") == (
        "wrote 7 bytes to notes/plan.md")
    assert await call(scratch, "write_file", path="notes/plan.md", content="step 1\n",
                      append=True) == "appended 7 bytes to notes/plan.md"
    assert await call(scratch, "read_file", path="./notes/plan.md") == "# Plan\nstep 1\n"
    listing = await call(scratch, "list_files")
    # symlinks are listed but never followed, so the secret's name and size do not show
    assert listing.splitlines() == [
        "etc (symlink)", "link.txt (symlink)", "up (symlink)", "notes/plan.md (14 bytes)",
    ]
    assert await call(scratch, "list_files", path="notes") == "notes/plan.md (14 bytes)"


async def test_quota_counts_what_is_already_there(scratch: Path) -> None:
    assert (await call(scratch, "write_file", path="a.txt", content="x" * 6000)).startswith("wrote")
    assert (await call(scratch, "write_file", path="b.txt", content="x" * 6000)).startswith(
        "refused: writing 6,000 bytes would bring the scratch directory to 12,000 bytes")
    # replacing a file only counts the difference
    assert (await call(scratch, "write_file", path="a.txt", content="y" * 9000)).startswith("wrote")


async def test_empty_scratch(scratch: Path) -> None:
    assert await call(scratch, "list_files") == "The scratch directory is empty."
    assert await call(scratch, "read_file", path="") == "error: a file name is required"
