"""The worker processes that read files: killed at the deadline and replaced, limited in
memory and CPU, and nothing of theirs left running."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from heavy_engine.attachments._pool import ExtractFailed, ExtractPool

from .pdfs import make_pdf

WORKER = Path(__file__).resolve().parents[3] / "heavy_engine" / "attachments" / "_worker.py"


def _pdf_with_stream(expanded: int, line: bytes = b"0 -1 Td (abc) Tj\n") -> bytes:
    """One page whose Flate content stream expands to `expanded` bytes."""
    stream = zlib.compress(b"BT /F1 9 Tf 72 780 Td\n" + line * (expanded // len(line)) + b"ET",
                           9)
    pdf = make_pdf("x")
    plain = b"BT /F1 12 Tf 72 720 Td (x) Tj ET"
    return pdf.replace(b"<< /Length %d >>\nstream\n" % len(plain) + plain,
                       b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream)


@pytest.fixture
async def pool() -> AsyncIterator[ExtractPool]:
    made = ExtractPool(size=1)
    yield made
    made.close()


async def test_a_pdf_is_read_in_a_worker_and_the_worker_is_kept(pool: ExtractPool) -> None:
    got = await pool.run("pdf", make_pdf("one", "two"), seconds=30, max_pages=10)
    assert got == {"text": "one\n\ntwo", "pages": 2}
    assert len(pool.idle) == 1 and pool.replaced == 0
    assert await pool.run("text", b"plain", seconds=30) == {"text": "plain"}
    assert await pool.run("text", b"\x00\x01bin", seconds=30) == {
        "skip": "not text (binary content)"}


async def test_a_slow_pdf_is_killed_at_the_deadline_and_replaced(pool: ExtractPool) -> None:
    await pool.run("text", b"warm", seconds=30)  # the worker is up: only the file is timed
    (first,) = pool.idle
    slow = _pdf_with_stream(20_000_000)  # seconds of pypdf work
    started = asyncio.get_running_loop().time()
    with pytest.raises(ExtractFailed, match=r"took more than 0\.5 s to read"):
        await pool.run("pdf", slow, seconds=0.5, max_pages=1)
    assert asyncio.get_running_loop().time() - started < 3
    assert first.proc.returncode == -signal.SIGKILL  # reaped: nothing left running
    assert pool.replaced == 1 and pool.live == 1
    (fresh,) = pool.idle  # started at once in its place
    assert fresh is not first and fresh.proc.returncode is None
    assert await pool.run("text", b"next", seconds=30) == {"text": "next"}
    assert pool.idle == [fresh]


async def test_a_file_past_the_memory_limit_is_named() -> None:
    small = ExtractPool(size=1, memory=160 * 1024 * 1024)
    try:  # 70 MB: under pypdf's own 75 MB stream limit, over what the worker may hold
        got = await small.run("pdf", _pdf_with_stream(70_000_000, b" " * 64 + b"\n"),
                              seconds=60, max_pages=1)
    finally:
        small.close()
    assert got == {"skip": "PDF needs more memory than a file may use"}


def test_a_worker_past_its_cpu_time_is_ended_by_the_kernel() -> None:
    """RLIMIT_CPU is the backstop should the service stop watching: SIGXCPU ends the worker."""
    code = (f"import sys; sys.path.insert(0, {str(WORKER.parent)!r}); "
            "from _worker import limit_cpu; limit_cpu(0.5)\nwhile True: pass")
    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert done.returncode == -signal.SIGXCPU


async def test_a_cancelled_caller_leaves_no_worker_running(pool: ExtractPool) -> None:
    await pool.run("text", b"warm", seconds=30)
    (worker,) = pool.idle
    task = asyncio.create_task(pool.run("pdf", _pdf_with_stream(20_000_000), seconds=60,
                                        max_pages=1))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if worker.proc.returncode is not None:
            break
        await asyncio.sleep(0.01)
    assert worker.proc.returncode == -signal.SIGKILL
    assert pool.live == 1 and pool.idle[0] is not worker  # replaced
