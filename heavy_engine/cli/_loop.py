"""The event loop of the long-running commands (`heavy serve`, `heavy worker`).

uvloop when it is installed (a dependency wherever it builds: not on Windows), else asyncio's
own. Every LLM call, webhook and database round trip of the service goes through the loop's
sockets, timers and callbacks; at 1,000 concurrent questions uvloop took `bench/engine.py` from
0.41 to 0.37 ms of CPU per LLM call. `HEAVY_EVENT_LOOP=asyncio` turns it off (to rule it out
when chasing a bug).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from .. import ConfigError

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], env: Mapping[str, str]) -> T:
    choice = env.get("HEAVY_EVENT_LOOP", "uvloop").strip().lower()
    if choice not in ("uvloop", "asyncio"):
        main.close()
        raise ConfigError(f"HEAVY_EVENT_LOOP must be uvloop or asyncio (got {choice!r})")
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)
