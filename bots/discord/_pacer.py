"""Per-channel pacing of progress edits.

Discord allows about 5 message edits per 5 s per channel, and every card in a channel shares
that budget, so the pacer is keyed by channel, not by message. Cards merge their updates while
they wait (the latest state is rendered when the turn comes), so pacing never queues stale
edits; discord.py's own rate-limit handling stays the backstop for the rare 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class ChannelPacer:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next: dict[int, float] = {}  # channel id -> earliest time of its next edit
        self._locks: dict[int, asyncio.Lock] = {}

    async def turn(self, channel_id: int) -> None:
        """Wait until `channel_id` may be edited again, and claim that slot."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            wait = self._next.get(channel_id, 0.0) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next[channel_id] = self._clock() + self.interval
