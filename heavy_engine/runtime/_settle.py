"""Ending the callers of a group commit: one rule for every batch writer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def settle(futures: Iterable[asyncio.Future[Any]], results: Iterable[Any] | None = None,
           error: BaseException | None = None) -> None:
    """Give each waiting caller of a batch its result (None when `results` is not given), or
    the batch's `error`; callers that gave up (cancelled) are skipped."""
    pending = list(futures)
    values = list(results) if results is not None else [None] * len(pending)
    for future, value in zip(pending, values, strict=True):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
