"""Garbage-collector settings for a long-lived asyncio service.

Every LLM call allocates thousands of short-lived objects. With CPython's default thresholds
(700, 10, 10) the collector runs every few calls and its full passes walk the whole heap,
including the tens of thousands of objects made at import time: at 1,000 concurrent questions
that was half the engine's CPU (bench/engine.py: 0.47 -> 0.29 ms per LLM call). Freezing the
start-up heap takes it out of every pass; higher thresholds make passes rarer. Cycles are still
collected, so nothing leaks. From (10_000, 20, 50) to (50_000, 100, 100): one heavy serve with
1,000 questions spent 0.23-0.48 s collecting instead of 0.63-1.09 s (timed with gc.callbacks),
with fewer 80-120 ms second-generation pauses; 100 concurrent submissions were still accepted
with p99 < 100 ms. At 1,000 questions a young-generation pass is not cheap either: each walks
the requests still in flight (tens of thousands of objects). From 50_000 to 200_000: 3 passes
instead of 14-15, 0.15-0.20 s collecting instead of 0.27-0.30 s, and the longest pause 56-93 ms
instead of 110-119 ms (two runs each, gc.callbacks, after start-up).
"""

from __future__ import annotations

import gc

SERVICE_THRESHOLDS = (200_000, 100, 100)


def tune_gc() -> None:
    """Call once, when start-up is over (modules imported, adapters built)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVICE_THRESHOLDS)
