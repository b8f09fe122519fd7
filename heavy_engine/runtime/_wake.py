"""One LISTEN per replica for the job queue, waking its fetch loops one at a time.

procrastinate fetches one job per round trip, so a replica runs several fetch loops (each a
procrastinate `Worker`) to keep a burst from queueing behind one of them. Each `Worker` with
`listen_notify=True` opens its own LISTEN connection, and every new job was announced to every
loop of every replica (4 loops x 3 replicas: 12 notifications, each a wake-up and most an empty
fetch). Here the workers do not listen: one task per replica listens (procrastinate's public
`JobManager.listen_for_jobs`) and hands each new job to the next loop with a free slot, round
robin, so a burst of N jobs wakes min(N, loops) of them and a lone job wakes one. (A loop whose
slots are all taken fetches again by itself as soon as one frees.) Every other notification
(an abort request) goes to every loop, as when each listened.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Any

from procrastinate import App
from procrastinate.worker import Worker

log = logging.getLogger("heavy.runtime")


# The two private uses of procrastinate, here only; tests/runtime/test_wake.py fails if a
# procrastinate upgrade changes either.


async def _handle(worker: Worker, channel: str, notification: Any) -> None:
    """What a `Worker` does with a notification it received itself: `job_inserted` wakes its
    fetch loop, `abort_job_requested` cancels the job if it runs it."""
    await worker._handle_notification(channel=channel, notification=notification)


def _has_room(worker: Worker) -> bool:
    """Whether the worker may start one more job now (its fetch loop takes a slot of this
    semaphore before each fetch, and gives it back when it found nothing)."""
    semaphore: asyncio.Semaphore = worker._job_semaphore
    return not semaphore.locked()


class Waker:
    def __init__(self, app: App, queues: list[str], workers: Sequence[Worker]) -> None:
        self.app = app
        self.queues = queues
        self.workers = list(workers)
        self._next = itertools.cycle(self.workers)

    async def run(self) -> None:
        """Listen until cancelled; reconnects after a lost connection (the workers' polling
        finds what was announced meanwhile)."""
        while True:
            try:
                await self.app.job_manager.listen_for_jobs(
                    on_notification=self._on_notification, queues=self.queues)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("job queue notifications: %s; reconnecting in 1 s", err)
            await asyncio.sleep(1.0)

    async def _on_notification(self, *, channel: str, notification: Any) -> None:
        if notification.get("type") == "job_inserted" and self.workers:
            for _ in self.workers:  # the next one with room; if none has, any will do
                worker = next(self._next)
                if _has_room(worker):
                    break
            await _handle(worker, channel, notification)
            return
        for worker in self.workers:
            await _handle(worker, channel, notification)
