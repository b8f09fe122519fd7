"""The distributed backend: heavy on PostgreSQL, any number of replicas.

Jobs ride on procrastinate (PostgreSQL-based, asyncio-native). Submissions are recorded and
queued under the queue limits in one transaction (`_pg_intake`); workers take, admit and run
them (`_pg_worker`); a running job's events go to `job_events` with a NOTIFY while somebody
follows it (`_pg_publish`), so any replica follows any job; each change of a running job's row
is one statement (`_pg_rows`). This module ties them together: cancelling, reading a job,
counts, following, starting and stopping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector
from procrastinate import jobs as pjobs
from sqlalchemy import func, select, update

from ..core import Engine, HeavyConfig
from ..db import JobRow, JobTaskRow, libpq_url, utcnow
from ..observability import Metrics
from ._backend import Admission
from ._contract import CANCELLED, FINAL_STATUSES, ConfigResolver, FollowItem, Job, JobRejected
from ._direct import Direct, queue_pool
from ._events_log import Listener, ask_for_events, notify, read_events
from ._lifecycle import Lifecycle
from ._pg_intake import Intake
from ._pg_publish import ASK_EVERY_S, Publisher
from ._pg_rows import RowWriter
from ._pg_worker import Workers
from ._results import failed_result
from ._runner import Runner
from ._store import JobStore

log = logging.getLogger("heavy.runtime")
_QUEUE_POOL = 20  # connections of the job queue's pool, per process


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    await connection.set_autocommit(True)


class DistributedRunner(Runner):
    """The runner of a replica on PostgreSQL (`PostgresBackend`); `work=False` (role `web`)
    only takes submissions, a worker also runs jobs."""

    backend: PostgresBackend

    def __init__(
        self,
        engine: Engine,
        store: JobStore,
        resolve: ConfigResolver,
        config: HeavyConfig,
        *,
        metrics: Metrics | None = None,
        work: bool = True,
        concurrency: int | None = None,
        fetchers: int = 4,
        poll_s: float = 0.5,
        max_attempts: int = 3,
        heartbeat_s: float = 2.0,
        stalled_after_s: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        lifecycle = Lifecycle(engine, store, metrics or Metrics(), max_attempts=max_attempts,
                              clock=clock)
        backend = PostgresBackend(
            lifecycle, config, work=work,
            concurrency=concurrency or max(config.limits.max_concurrent_jobs, 1) + 4,
            fetchers=fetchers, poll_s=poll_s, heartbeat_s=heartbeat_s,
            stalled_after_s=stalled_after_s)
        super().__init__(backend, lifecycle, resolve, config)


class PostgresBackend:
    def __init__(self, lifecycle: Lifecycle, config: HeavyConfig, *, work: bool,
                 concurrency: int, fetchers: int, poll_s: float, heartbeat_s: float,
                 stalled_after_s: float) -> None:
        self.store = lifecycle.store
        self.db = self.store.db
        self.metrics = lifecycle.metrics
        self.work = work
        self._clock = lifecycle.clock
        url = self.db.engine.url.render_as_string(hide_password=False)
        # Autocommit: each of procrastinate's queries is one statement, and without it every
        # fetch, finish and heartbeat also paid a BEGIN and a COMMIT round trip. The pool also
        # carries the worker's own per-job statements (`_direct`), and checks a connection on
        # checkout without a round trip (`queue_pool`). Its connections all open with the
        # queue, not in the first burst of jobs (as Database.warm does for SQLAlchemy's).
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(url), min_size=_QUEUE_POOL,
                                                  max_size=_QUEUE_POOL, configure=_autocommit,
                                                  pool_factory=queue_pool))
        self.direct = Direct(lambda: self.app.connector.pool)  # type: ignore[attr-defined]
        self.rows = RowWriter(self.direct, self._clock)
        self.publisher = Publisher(self.db, self.direct)
        self.listener = Listener(url, on_follow=self.publisher.asked_for)
        self.intake = Intake(self.db, self.app, config, self._clock)
        self.workers = Workers(
            self.app, self.direct, lifecycle, self.rows, self.publisher, config,
            stopping=lambda: self._stopping, concurrency=concurrency, fetchers=fetchers,
            poll_s=poll_s, heartbeat_s=heartbeat_s, stalled_after_s=stalled_after_s,
            clock=self._clock)
        self.manager = self.workers.manager
        self._side: list[asyncio.Task[None]] = []
        self._counts = (0, 0)
        self._asked: dict[str, float] = {}  # when this process last asked for a job's events
        self._stopping = False
        self._opened = False

    # -- admission, cancel, reading ----------------------------------------------------------

    async def admit(self, job: Job, refusal: JobRejected | None) -> Admission:
        return await self.intake.add(job, refusal)

    async def cancel(self, job_id: str, *, by: str | None) -> bool:
        """Cancel a queued job at once, or ask the worker running it to abort it."""
        async with self.db.session() as session, session.begin():
            row = await session.get(JobRow, job_id, with_for_update=True)
            task = await session.get(JobTaskRow, job_id, with_for_update=True)
            if row is None or row.status in FINAL_STATUSES or task is None:
                return False
            task.cancelled_by = by
            raw = await session.connection()
            conn = (await raw.get_raw_connection()).driver_connection
            if row.status != "queued":
                if not await self.manager.cancel_job_by_id_async(task.task_id, abort=True,
                                                                 connection=conn):
                    return False
                row.stopped_by = by  # committed with this transaction; the worker keeps it
                # Running: its worker aborts the run and records the end. Waiting for a
                # retry (its worker died or stopped): nobody runs it, so it ends here.
                status = await self.manager.get_job_status_async(task.task_id, connection=conn)
                if status != pjobs.Status.CANCELLED:
                    return True
            else:
                await self.manager.cancel_job_by_id_async(task.task_id, connection=conn)
            result = failed_result(self.store._to_job(row), CANCELLED)
            result.status = "cancelled"
            await session.execute(update(JobRow).where(JobRow.id == job_id).values(
                status="cancelled", error=CANCELLED, finished_at=self._clock(),
                result=result.as_dict(), answer="", stopped_by=by))
            await notify(session, job_id)
            self.metrics.jobs_finished.inc(platform=row.platform, status="cancelled")
            return True

    async def get_job(self, job_id: str) -> Job | None:
        job = await self.store.get(job_id)
        if job is not None and job.status == "queued":
            async with self.db.session() as session:
                ahead = await session.scalar(select(func.count()).select_from(JobRow).where(
                    JobRow.status == "queued", JobRow.created_at <= job.created_at,
                    JobRow.id != job.id))
            job.position = int(ahead or 0) + 1
        return job

    def counts(self) -> tuple[int, int]:
        """(queued, running) across every replica, refreshed every second."""
        return self._counts

    # -- following: `job_events` and notifications --------------------------------------------

    def watch(self, job_id: str) -> asyncio.Event:
        return self.listener.job_changed(job_id)

    @property
    def recheck_s(self) -> float | None:
        return ASK_EVERY_S

    async def events(self, job: Job, after: int) -> AsyncIterator[FollowItem]:
        """The stored events after `after`. A running job's worker writes its events only
        while somebody asks (`Publisher`): asked again now and then, since after a crash
        another worker runs it."""
        for row in await read_events(self.db, job.id, after):
            yield row.seq, row.type, row.data
        now = time.monotonic()
        if job.status == "running" and now - self._asked.get(job.id, -ASK_EVERY_S) >= ASK_EVERY_S:
            if len(self._asked) > 10_000:
                self._asked = {k: t for k, t in self._asked.items() if now - t < ASK_EVERY_S}
            self._asked[job.id] = now
            await ask_for_events(self.direct, job.id)

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> int:
        """Open the queue and the notifications; in a worker, start taking jobs."""
        await self.app.open_async()
        self._opened = True
        await self.listener.start()
        self._side.append(asyncio.get_running_loop().create_task(self._refresh_counts()))
        if self.work:
            self._side.extend(self.workers.start())
        return 0

    async def shutdown(self, grace: float, force: asyncio.Event | None) -> None:
        """Running jobs get `grace` seconds, then go back to the queue for another worker
        (procrastinate retries a job aborted by a shutdown)."""
        self._stopping = True
        await self.workers.stop(grace, force)
        for task in self._side:
            task.cancel()
        await asyncio.gather(*self._side, return_exceptions=True)
        self._side.clear()
        await self.listener.stop()
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def drain(self) -> None:
        """Until nothing is queued or running in the database."""
        while True:
            queued, running = await self._count()
            if queued == 0 and running == 0:
                return
            await asyncio.sleep(0.05)

    async def _count(self) -> tuple[int, int]:
        async with self.db.session() as session:
            rows = (await session.execute(select(JobRow.status, func.count()).where(
                JobRow.status.in_(("queued", "running"))).group_by(JobRow.status))).all()
        counts = {status: int(n) for status, n in rows}
        return counts.get("queued", 0), counts.get("running", 0)

    async def _refresh_counts(self) -> None:
        while True:
            try:
                self._counts = await self._count()
                self.metrics.set_active(*self._counts)
            except Exception as err:
                log.warning("counting jobs failed: %s", err)
            await asyncio.sleep(1.0)

