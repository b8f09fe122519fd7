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

A job retried later (no room under the limits yet, or back from a dead worker) is not
announced: every `poll_s` the waker also wakes one loop with room to look, where each loop used
to poll by itself (4 empty fetches where one does, and none from a loop whose slots are full).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from procrastinate import App
from procrastinate.worker import Worker

log = logging.getLogger("heavy.runtime")


# The private uses of procrastinate (and of asyncio's semaphore), here only;
# tests/jobs/test_wake.py fails if an upgrade changes any.


async def _handle(worker: Worker, channel: str, notification: Any) -> None:
    """What a `Worker` does with a notification it received itself: `job_inserted` wakes its
    fetch loop, `abort_job_requested` cancels the job if it runs it."""
    await worker._handle_notification(channel=channel, notification=notification)


def _has_room(worker: Worker) -> bool:
    """Whether the worker may start one more job now (its fetch loop takes a slot of this
    semaphore before each fetch, and gives it back when it found nothing)."""
    semaphore: asyncio.Semaphore = worker._job_semaphore
    return not semaphore.locked()


def free_slots(worker: Worker) -> int:
    """How many jobs the worker can start now, counting the one its fetch loop is asking for
    (it takes a slot before each fetch): what `_manager` takes for it in one round trip."""
    semaphore: asyncio.Semaphore = worker._job_semaphore
    return int(semaphore._value) + 1


_LOOK = {"type": "job_inserted"}  # what wakes a fetch loop


class Waker:
    def __init__(self, app: App, queues: list[str], workers: list[Worker],
                 poll_s: float = 0.5) -> None:
        self.app = app
        self.queues = queues
        self.workers = workers  # shared: the runner replaces a loop's worker that failed
        self.poll_s = poll_s
        self._next = 0

    async def run(self) -> None:
        """Listen (and poll) until cancelled; reconnects after a lost connection (the polls
        find what was announced meanwhile)."""
        poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            while True:
                try:
                    await self.app.job_manager.listen_for_jobs(
                        on_notification=self._on_notification, queues=self.queues)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    log.warning("job queue notifications: %s; reconnecting in 1 s", err)
                await asyncio.sleep(1.0)
        finally:
            poller.cancel()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self._wake_one("", _LOOK)

    async def _on_notification(self, *, channel: str, notification: Any) -> None:
        if notification.get("type") == "job_inserted":
            await self._wake_one(channel, notification)
            return
        for worker in self.workers:
            await _handle(worker, channel, notification)

    async def _wake_one(self, channel: str, notification: Any) -> None:
        """The next loop with room; if none has, any will do."""
        if not self.workers:
            return
        for _ in range(len(self.workers)):
            worker = self.workers[self._next % len(self.workers)]
            self._next += 1
            if _has_room(worker):
                break
        await _handle(worker, channel, notification)
