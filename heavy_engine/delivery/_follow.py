"""`Follower`: a run's events merged into one `ProgressState`, handed out at a pace.

The consumer renders each turn and sends it; while it sends, new events keep folding into the
same state, so a slow platform sees fewer, fresher updates, never a backlog. A turn also comes
every `tick` seconds while nothing happens, so elapsed times move during a slow tool call. The
last turn carries the final state (`state.result` set) and always comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

from ..core import Done, Run
from ..progress import ProgressState

Pace = Callable[[], Awaitable[None]]


class Follower:
    def __init__(self, run: Run, state: ProgressState, *, interval: float, tick: float,
                 pace: Pace | None = None) -> None:
        self.run = run
        self.state = state
        self.interval = interval  # seconds between two turns (after the consumer's send)
        self.tick = tick  # a turn at least this often, changed or not
        self._pace = pace  # an extra gate before each turn (e.g. a per-channel budget)
        self._dirty = asyncio.Event()
        self._next_at = 0.0

    def sent(self) -> None:
        """The consumer sent something outside a turn (a first post): pace from now."""
        self._next_at = asyncio.get_running_loop().time() + self.interval

    def hold(self, delay: float) -> None:
        """Rate limited: the next turn waits `delay` seconds and resends the state."""
        loop = asyncio.get_running_loop()
        self._next_at = max(self._next_at, loop.time() + max(delay, self.interval))
        self._dirty.set()

    async def turns(self) -> AsyncGenerator[ProgressState, None]:
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._dirty.wait(), self.tick)
                if reader.done() and self.state.result is None:
                    reader.result()  # the stream's error, if it raised
                    raise RuntimeError("the run's events ended without Done")
                wait = self._next_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._pace is not None:
                    await self._pace()
                self._dirty.clear()
                yield self.state
                self._next_at = loop.time() + self.interval
                if self.state.result is not None:
                    return
        finally:
            if not reader.done():
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for event in self.run.stream():
                self.state.apply(event)
                self._dirty.set()
                if isinstance(event, Done):
                    return
        finally:
            self._dirty.set()
