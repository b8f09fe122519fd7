"""Group commit: what callers hand in while one batch is being written forms the next batch.

The first caller starts a writer task; every caller that arrives while a batch is in flight
joins the next one, so a burst of N becomes a few transactions instead of N, and a lone caller
is written at once (no timer, no added latency). Each caller awaits its own result; a caller
that gives up (cancelled) leaves the batch intact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _settle(futures: Iterable[asyncio.Future[Any]], results: Iterable[Any] | None = None,
            error: BaseException | None = None) -> None:
    """Give each waiting caller of a batch its result, or the batch's `error`; callers that
    gave up (cancelled) are skipped."""
    pending = list(futures)
    values = list(results) if results is not None else [None] * len(pending)
    for future, value in zip(pending, values, strict=True):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class GroupCommit(Generic[T, R]):
    """`await add(item)` -> the result `write` gave for it; `write(items)` returns one result
    per item, in order, or raises (then every caller of that batch gets the error)."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, max_size: int,
                 size: Callable[[T], int] = lambda _: 1) -> None:
        self._write = write
        self.max_size = max_size
        self._size = size
        self.batches = 0  # batches written (for tests and benchmarks)
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_all())
        return await asyncio.shield(future)

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The oldest pending items up to `max_size` (always at least one)."""
        taken, total = 0, 0
        for item, _ in self._pending:
            weight = self._size(item)
            if taken and total + weight > self.max_size:
                break
            taken, total = taken + 1, total + weight
        batch = self._pending[:taken]
        del self._pending[:taken]
        return batch

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._next_batch()
            try:
                results = await self._write([item for item, _ in batch])
            except BaseException as err:
                _settle((future for _, future in batch), error=err)
                if not isinstance(err, Exception):
                    raise
                continue
            self.batches += 1
            _settle((future for _, future in batch), results)
