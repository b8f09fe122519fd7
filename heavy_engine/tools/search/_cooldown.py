"""Back-ends that throttled us rest for a while before they are asked again.

DuckDuckGo's bot check and a 429 both mean "too many requests from your address": asking again
at the next search only prolongs the block and writes the same warning again. A back-end that
answered so is skipped, quietly, for the time it asked (Retry-After) or `THROTTLE_REST_S`; the
others are asked meanwhile. The state is per `WebSearch` instance (one per engine), keyed by
back-end and base_url.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...core import SearchBackendConfig


class Cooldowns:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[tuple[str, str], float] = {}

    @staticmethod
    def _key(entry: SearchBackendConfig) -> tuple[str, str]:
        return entry.backend, entry.base_url or ""

    def left(self, entry: SearchBackendConfig) -> float:
        """Seconds `entry` still rests (0: ask it)."""
        until = self._until.get(self._key(entry))
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[self._key(entry)]
            return 0.0
        return left

    def rest(self, entry: SearchBackendConfig, seconds: float) -> None:
        self._until[self._key(entry)] = self._clock() + seconds
