"""Running the real `heavy` command in the tests' event loop."""

from __future__ import annotations

import asyncio

from heavy_engine.cli import main


async def heavy(*argv: str) -> int:
    """`heavy argv...` in a worker thread (it runs its own event loop); its exit code."""
    return await asyncio.to_thread(main, list(argv))
