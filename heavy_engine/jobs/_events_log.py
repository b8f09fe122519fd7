"""Progress across processes: the `job_events` table for replay, LISTEN/NOTIFY for the signal.

The worker running a job numbers its engine events per job from 1 and stores them all, at the
latest with the job's outcome; while somebody follows the job it appends them as they come,
notifying `heavy_jobs` with the job id in the same statement (and on every status change).
Any replica follows a job by asking for its events (`ask_for_events`: a notification on
`heavy_follow` that the worker running it hears), reading the rows after the last number it
sent (SSE `Last-Event-ID`) and waiting for the next notification about that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from sqlalchemy import func, select, text

from ..core import Event
from ..db import Database, JobEventRow, dump_json, libpq_url, utcnow
from ._batch import GroupCommit
from ._direct import Direct

log = logging.getLogger("heavy.runtime")
CHANNEL = "heavy_jobs"
FOLLOW = "heavy_follow"  # payload: a job id somebody follows


async def notify(session: Any, job_id: str) -> None:
    """Within the caller's transaction: wake the followers of `job_id` when it commits."""
    await session.execute(text("SELECT pg_notify(:channel, :job)"),
                          {"channel": CHANNEL, "job": job_id})


async def ask_for_events(direct: Direct, job_id: str) -> None:
    """Ask the worker running `job_id` (whichever replica) to write its events as they come."""
    await direct.one("SELECT pg_notify(%(channel)s, %(job)s)", {"channel": FOLLOW, "job": job_id})


async def last_number(db: Database, job_id: str) -> int:
    """The number of the job's last stored event (0 when none)."""
    async with db.reads() as session:
        last = await session.scalar(select(func.max(JobEventRow.seq)).where(
            JobEventRow.job_id == job_id))
    return int(last or 0)


# The rows of a batch (a JSON array) appended, then each job concerned notified once.
_APPEND = """
WITH appended AS (
    INSERT INTO job_events (job_id, seq, attempt, type, data, at)
    SELECT r.job_id, r.seq, r.attempt, r.type, r.data, %(at)s
    FROM json_to_recordset(CAST(%(rows)s AS json))
        AS r(job_id varchar, seq integer, attempt integer, type varchar, data json)
    RETURNING job_id)
SELECT pg_notify(%(channel)s, job_id) FROM (SELECT DISTINCT job_id FROM appended) AS changed
"""


class EventsWriter:
    """Appends the events of every job of a process (the only writer of a job is the worker
    running it), group-committed: the events that arrive while one statement is written go into
    the next one, a single statement inserting them all and notifying each job concerned."""

    def __init__(self, direct: Direct, max_rows: int = 2000) -> None:
        self._direct = direct
        self._group: GroupCommit[tuple[str, list[dict[str, Any]]], None] = GroupCommit(
            self._write, max_size=max_rows, size=lambda item: len(item[1]))

    @property
    def batches(self) -> int:
        """Transactions written (for tests and benchmarks)."""
        return self._group.batches

    async def append(self, job_id: str, attempt: int, after: int,
                     events: Iterable[Event]) -> int:
        """Append the job's events numbered after `after`; returns the last number."""
        rows = [{"job_id": job_id, "seq": after + i, "attempt": attempt, "type": event.type,
                 "data": event.as_dict()} for i, event in enumerate(events, 1)]
        if rows:
            await self._group.add((job_id, rows))
        return after + len(rows)

    async def _write(self, batch: list[tuple[str, list[dict[str, Any]]]]) -> list[None]:
        # One statement, one round trip: the rows travel as one JSON document (encoded once,
        # not bound row by row), inserted and notified in autocommit.
        rows = [row for _, rows in batch for row in rows]
        await self._direct.one(_APPEND, {"rows": dump_json(rows), "at": utcnow(),
                                         "channel": CHANNEL})
        return [None] * len(batch)


async def read_events(db: Database, job_id: str, after: int) -> list[JobEventRow]:
    async with db.reads() as session:
        rows = await session.scalars(
            select(JobEventRow).where(JobEventRow.job_id == job_id, JobEventRow.seq > after)
            .order_by(JobEventRow.seq))
        return list(rows)


class Listener:
    """One LISTEN connection per process, fanning notifications out to asyncio events; asks
    for a job's events go to `on_follow`."""

    def __init__(self, url: str, on_follow: Callable[[str], None] | None = None) -> None:
        self.url = libpq_url(url)
        self.on_follow = on_follow
        self._task: asyncio.Task[None] | None = None
        self._jobs: dict[str, asyncio.Event] = {}
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def job_changed(self, job_id: str) -> asyncio.Event:
        """An event set at the next notification about `job_id` (take it before reading)."""
        event = self._jobs.get(job_id)
        if event is None or event.is_set():
            event = self._jobs[job_id] = asyncio.Event()
        return event

    def _wake(self, job_id: str | None) -> None:
        if job_id is None:  # after a reconnect: anything may have changed
            for event in self._jobs.values():
                event.set()
            self._jobs.clear()
            return
        if job_id in self._jobs:
            self._jobs.pop(job_id).set()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}; LISTEN {FOLLOW}")
                    self._ready.set()
                    self._wake(None)
                    async for note in conn.notifies():
                        if note.channel != FOLLOW:
                            self._wake(note.payload)
                        elif self.on_follow is not None:
                            self.on_follow(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("job notifications: %s; reconnecting in 1 s", err)
                self._wake(None)
                await asyncio.sleep(1.0)
