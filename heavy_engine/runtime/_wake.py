"""One LISTEN per replica for the job queue, waking its fetch loops one at a time.

procrastinate fetches one job per round trip, so a replica runs several fetch loops (each a
procrastinate `Worker`) to keep a burst from queueing behind one of them. Each `Worker` with
`listen_notify=True` opens its own LISTEN connection, and every new job was announced to every
loop of every replica (4 loops x 3 replicas: 12 notifications, each a wake-up and most an empty
fetch). Here the workers do not listen: one task per replica listens (procrastinate's public
`JobManager.listen_for_jobs`) and hands each new job to the next loop, round robin, so a burst
of N jobs wakes min(N, loops) of them and a lone job wakes one. Every other notification (an
abort request) goes to every loop, as when each listened.
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


async def _handle(worker: Worker, channel: str, notification: Any) -> None:
    """The one private call into procrastinate: what a `Worker` does with a notification it
    received itself (`job_inserted` wakes its fetch loop; `abort_job_requested` cancels a job
    it runs). tests/runtime/test_distributed.py fails if procrastinate changes it."""
    await worker._handle_notification(channel=channel, notification=notification)


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
        if notification.get("type") == "job_inserted":
            await _handle(next(self._next), channel, notification)
            return
        for worker in self.workers:
            await _handle(worker, channel, notification)
