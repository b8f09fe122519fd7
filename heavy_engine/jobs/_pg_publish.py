"""A worker's running jobs' events, written to `job_events` while somebody follows them.

Any replica follows a job by asking for its events (`ask_for_events`, heard by every replica's
`Listener`, which calls `asked_for`); the worker running it then appends them as they come.
A job nobody watches (most: a chat answer is delivered from the process that runs it) costs no
write of its own for its events: they are all stored with its outcome (`Tail`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..core import Event, Run
from ..db import Database
from ._contract import Job
from ._direct import Direct
from ._events_log import EventsWriter, last_number
from ._pg_rows import Tail

# How often a follower asks again for a running job's events (its worker may have changed).
ASK_EVERY_S = 1.0
# How long a worker remembers that a job it does not run (yet) was asked for.
_ASKED_FOR_S = 5.0


class Publisher:
    def __init__(self, db: Database, direct: Direct) -> None:
        self.db = db
        self.events = EventsWriter(direct)
        # The publishers of the jobs running here, and when each job was last asked for (by
        # any replica).
        self._publishers: dict[str, asyncio.Event] = {}
        self._asked: dict[str, float] = {}

    async def publish(self, job: Job, run: Run) -> Tail:
        """Copy the run's events to `job_events` while somebody follows the job, batching what
        arrives during a write. The rest, the run's `done` event last, is returned, not
        written: it is stored with the job's outcome, in one statement, both or neither."""
        pending: list[Event] = []
        wake = asyncio.Event()
        ended = False
        # A resumed job continues the numbering; a first attempt has stored nothing yet.
        seq = 0 if job.attempts <= 1 else await last_number(self.db, job.id)

        async def read() -> None:
            nonlocal ended
            try:
                async for event in run.stream():
                    pending.append(event)
                    if self._followed(job.id):  # else the first ask wakes the writer
                        wake.set()
            finally:
                ended = True
                wake.set()

        self._publishers[job.id] = wake
        reader = asyncio.get_running_loop().create_task(read())
        try:
            while True:
                await wake.wait()
                wake.clear()
                if ended:
                    return seq + 1, job.attempts, list(pending)
                # never the `done` event (the last of every run): it goes with the outcome
                ready = pending[:-1] if pending and pending[-1].type == "done" else pending[:]
                if ready and self._followed(job.id):
                    del pending[:len(ready)]
                    seq = await self.events.append(job.id, job.attempts, seq, ready)
        finally:
            self._publishers.pop(job.id, None)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def asked_for(self, job_id: str) -> None:
        """A follower (on any replica) asked for this job's events."""
        now = time.monotonic()
        if len(self._asked) > 10_000:  # every replica hears every ask: keep the recent ones
            self._asked = {k: t for k, t in self._asked.items() if now - t < _ASKED_FOR_S}
        self._asked[job_id] = now
        wake = self._publishers.get(job_id)
        if wake is not None:
            wake.set()

    def _followed(self, job_id: str) -> bool:
        asked = self._asked.get(job_id)
        return asked is not None and time.monotonic() - asked < _ASKED_FOR_S + ASK_EVERY_S
