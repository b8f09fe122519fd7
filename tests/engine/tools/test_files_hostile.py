"""Hostile file-tool calls: one entry cap for files and folders, bounded depth, a loop that never
stalls, and a scratch directory that is always removed (issue 10, item 1)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from heavy_engine.core._engine import Engine, HeavyRequest
from heavy_engine.testing import FakeLLM, fake_config, tool_call_reply
from heavy_engine.tools import ListFiles, ReadFile, Tool, ToolContext, WriteFile, execute_tool
from heavy_engine.tools._files import MAX_DEPTH, MAX_ENTRIES
from heavy_engine.tools._scratch import remove_tree

from .conftest import make_ctx

TOOLS: dict[str, Tool] = {t.name: t for t in (ReadFile(), WriteFile(), ListFiles())}


async def call(ctx: ToolContext, name: str, **args: object) -> str:
    res = await execute_tool(TOOLS[name], name, json.dumps(args), ctx, timeout=10)
    return res.text


def entries(root: Path) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(root))


async def test_folders_and_files_share_one_entry_cap(scratch: Path) -> None:
    ctx = make_ctx(scratch)
    refused = ""
    for i in range(MAX_ENTRIES):
        text = await call(ctx, "write_file", path=f"d{i}/f", content="x")
        if text.startswith("refused"):
            refused = text
            break
    assert f"{MAX_ENTRIES} files and folders" in refused, refused
    assert entries(scratch) <= MAX_ENTRIES
    # an existing file can still be replaced at the cap
    assert (await call(ctx, "write_file", path="d0/f", content="yy")).startswith("wrote")


async def test_depth_is_bounded(scratch: Path) -> None:
    ctx = make_ctx(scratch)
    ok = "/".join(["a"] * (MAX_DEPTH - 1) + ["f.txt"])
    deep = "/".join(["a"] * MAX_DEPTH + ["f.txt"])
    assert (await call(ctx, "write_file", path=ok, content="x")).startswith("wrote")
    text = await call(ctx, "write_file", path=deep, content="x")
    assert text.startswith(f"refused: {deep} is nested {MAX_DEPTH + 1} levels deep"), text
    assert (await call(ctx, "read_file", path=ok)) == "x"


async def test_quota_is_kept_across_calls_without_walking(scratch: Path) -> None:
    ctx = make_ctx(scratch, scratch_max_bytes=10_000)
    assert (await call(ctx, "write_file", path="a/b.txt", content="x" * 6000)).startswith("wrote")
    # something appearing behind the tools' back is not re-walked for each call, and what the
    # tools wrote is still counted
    assert (await call(ctx, "write_file", path="c.txt", content="x" * 5000)).startswith(
        "refused: writing 5,000 bytes would bring the scratch directory to 11,000 bytes")
    assert (await call(ctx, "write_file", path="a/b.txt", content="x" * 100,
                       append=True)).startswith("appended")
    assert (await call(ctx, "write_file", path="a/b.txt", content="y")).startswith("wrote")
    assert (await call(ctx, "write_file", path="c.txt", content="x" * 9000)).startswith("wrote")


def _deep_tree(root: Path, depth: int) -> None:
    """`depth` nested folders, made with dir_fd (the path would exceed PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)


def test_cleanup_removes_a_deep_tree(tmp_path: Path) -> None:
    ctx = ToolContext("deep", scratch_root=tmp_path)
    scratch = ctx.scratch_dir
    try:
        _deep_tree(scratch, 3000)  # deeper than the recursion limit
        (scratch / "ro").mkdir()
        (scratch / "ro" / "f").write_text("x")
        (scratch / "ro").chmod(0o500)  # a folder the tools could not have emptied
        ctx.cleanup()
        assert list(tmp_path.iterdir()) == []
    finally:
        remove_tree(scratch)  # a failure must not leave pytest's own cleanup a deep tree


async def _probe(stop: asyncio.Event, worst: list[float]) -> None:
    """The longest stretch of the loop thread's own CPU time between two 2 ms ticks: work that
    blocked the loop. CPU time, not wall time: a machine busy with other processes delays a
    tick without anything blocking the loop (the suite must pass beside a CPU hog)."""
    while not stop.is_set():
        before = time.thread_time()
        await asyncio.sleep(0.002)
        worst[0] = max(worst[0], time.thread_time() - before)


async def test_a_hostile_turn_never_stalls_the_loop(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """16 calls (the per-turn cap) per turn, 3 turns: deep paths, big contents, listings."""
    deep = "/".join(f"{'x' * 200}{i}" for i in range(18))
    turns = []
    for t in range(3):
        calls: list[tuple[str, dict[str, object]]] = []
        for i in range(12):
            calls.append(("write_file", {"path": f"t{t}/{i}/" + "/".join(["a"] * 13) + "/f",
                                         "content": "z" * 2_000}))
        calls += [("write_file", {"path": deep, "content": "x"}),
                  ("write_file", {"path": "q/" * 2000 + "f", "content": "x"}),
                  ("list_files", {}), ("read_file", {"path": f"t{t}/0/" + "a/" * 13 + "f"})]
        turns.append(tool_call_reply(*calls))
    fake_llm.enqueue(*turns, when="agent")
    config = fake_config(fake_llm.base_url, agents=1, timeouts={"request": 60, "tool": 30},
                         tool_settings={"scratch_max_bytes": 500_000_000})
    stop, worst = asyncio.Event(), [0.0]
    probe = asyncio.get_running_loop().create_task(_probe(stop, worst))
    async with Engine(config, scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Fill the disk please.", config))
    stop.set()
    await probe
    left = list(tmp_path.iterdir())  # noqa: ASYNC240 - a test's own check
    remove_tree(tmp_path)  # whatever the outcome, no deep tree is left behind
    assert result.status == "ok", result.error
    print(f"longest event-loop stall: {worst[0] * 1000:.1f} ms")
    assert worst[0] < 0.1, f"the loop stalled {worst[0] * 1000:.0f} ms"
    assert left == []
