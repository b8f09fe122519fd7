"""The replica's one listener (`jobs/_wake.py`): which fetch loop a new job wakes, and the
two private parts of procrastinate it relies on. The wake-ups on a real PostgreSQL are in
test_distributed.py."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

import pytest

pytest.importorskip("procrastinate")

from procrastinate import App
from procrastinate.testing import InMemoryConnector
from procrastinate.worker import Worker

from heavy_engine.jobs._wake import Waker, free_slots

INSERTED = {"type": "job_inserted", "job_id": 1}
CHANNEL = "procrastinate_queue_v1#heavy"


class _Loop:
    """A procrastinate worker as the waker sees it: its slots and the notifications it got."""

    def __init__(self, slots: int) -> None:
        self._job_semaphore = asyncio.Semaphore(slots)
        self.got: list[dict[str, Any]] = []

    async def _handle_notification(self, *, channel: str, notification: dict[str, Any]) -> None:
        self.got.append(notification)


def _waker(*loops: _Loop) -> Waker:
    return Waker(cast(App, None), ["heavy"], cast(list[Worker], list(loops)))


async def test_a_new_job_wakes_the_next_loop_with_a_free_slot() -> None:
    full, free, other = _Loop(0), _Loop(1), _Loop(1)
    waker = _waker(full, free, other)
    for _ in range(4):
        await waker._on_notification(channel=CHANNEL, notification=INSERTED)
    # round robin over the loops that can take it; the full one is skipped
    assert (len(full.got), len(free.got), len(other.got)) == (0, 2, 2)


async def test_when_every_loop_is_full_one_is_woken_and_aborts_reach_them_all() -> None:
    loops = [_Loop(0), _Loop(0)]
    waker = _waker(*loops)
    await waker._on_notification(channel=CHANNEL, notification=INSERTED)
    assert sum(len(loop.got) for loop in loops) == 1
    abort = {"type": "abort_job_requested", "job_id": 7}
    await waker._on_notification(channel=CHANNEL, notification=abort)
    assert all(loop.got[-1] == abort for loop in loops)


def test_the_private_parts_of_procrastinate_the_waker_uses_are_still_there() -> None:
    """`_wake._handle` calls `Worker._handle_notification(channel=, notification=)` and
    `_wake._has_room` and `_wake.free_slots` read `Worker._job_semaphore` (and its count): if
    an upgrade changes any, this fails before the replicas stop waking up or fetching."""
    handle = Worker._handle_notification
    assert inspect.iscoroutinefunction(handle)
    params = inspect.signature(handle).parameters
    assert params["channel"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["notification"].kind is inspect.Parameter.KEYWORD_ONLY
    worker = Worker(app=App(connector=InMemoryConnector()), concurrency=3,
                    install_signal_handlers=False)
    assert isinstance(worker._job_semaphore, asyncio.Semaphore)
    assert free_slots(worker) == 4  # 3 free, and the one a fetch is asked for
    source = inspect.getsource(Worker._fetch_and_process_jobs)
    assert "self._job_semaphore.acquire()" in source  # a slot taken before each fetch


async def test_every_poll_wakes_one_loop_with_room_to_look_for_retries() -> None:
    """A job retried later is not announced: the waker's poll wakes a loop that can take it
    (the loops' own polling is only a fallback, seconds apart)."""
    full, free = _Loop(0), _Loop(1)
    waker = Waker(cast(App, None), ["heavy"], cast(list[Worker], [full, free]), poll_s=0.01)
    poller = asyncio.get_running_loop().create_task(waker._poll())
    await asyncio.sleep(0.1)
    poller.cancel()
    assert full.got == [] and len(free.got) >= 3
    assert all(note["type"] == "job_inserted" for note in free.got)
