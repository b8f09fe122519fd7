"""`DistributedRunner`: the job runner when heavy runs on PostgreSQL, any number of replicas.

Jobs ride on procrastinate (PostgreSQL-based, asyncio-native). A submission is one short
transaction: under an advisory lock it checks the limits by counting the `jobs` table, inserts
the job row and defers its procrastinate job (queueing lock = the job id), so a job is either
fully accepted or not at all, whichever replica took it.

A worker (`heavy worker`, or `heavy serve` in role `all`) takes a job, admits it under the
same lock when the running counts allow (global, per user, per channel; else procrastinate
retries it a second later), runs the engine, appends every event to `job_events` with a
NOTIFY (any replica follows any job), stores the result, and calls the front end's delivery
registered for the job's platform. Workers send heartbeats; each worker also sweeps for jobs
of workers whose heartbeat stopped (`kill -9`, a lost node) and hands them back to the queue,
so they resume on a live worker. Cancel is procrastinate's abort: the worker running the job
cancels the run and records who stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate import jobs as pjobs
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.job_context import AbortReason
from procrastinate.worker import Worker
from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..core._config import HeavyConfig
from ..core._engine import Engine, Run
from ..core._events import Event
from ..db import dump_json, libpq_url, utcnow
from ..db._job_tables import JobRow
from ..db._queue_tables import JobTaskRow
from ..observability import Metrics, job_id_var, redact
from ._access import access_refusal
from ._batch import GroupCommit
from ._contract import (
    FINAL_STATUSES,
    JOB_STATUS,
    ConfigResolver,
    Delivery,
    Job,
    JobRejected,
    JobSpec,
    JobStatus,
)
from ._direct import Direct, json, queue_pool
from ._events_log import (
    CHANNEL,
    EventsWriter,
    Listener,
    ask_for_events,
    last_number,
    notify,
    read_events,
)
from ._limits import over_budget, queue_refusal, startable
from ._manager import UPDATE, QueueManager
from ._results import StoredResults, failed_result, job_request, replay_run
from ._store import JobStore, _outcome, job_values
from ._submit import accepted, new_job, refused
from ._views import status_view
from ._wake import Waker, free_slots

log = logging.getLogger("heavy.runtime")
TASK = "heavy.run_job"
QUEUE = "heavy"
# Start a job if the running counts leave room (migrations 0009 and 0010: the global admission
# lock, the conditional update and its notification, all server-side); the job's row as it is
# after the call (`_admit`). Autocommit: the lock lasts one round trip.
_ADMIT = ("SELECT * FROM heavy_admit_job(%(id)s, %(now)s, %(max)s, %(per_user)s, "
          "%(per_channel)s)")
_COLUMNS = frozenset(JobRow.__table__.columns.keys())
# Running and queued jobs: all of them (the first row), and those of the batch's requesters
# and channels by (platform, workspace, requester, channel): `_Held`.
_HELD = text("""
SELECT NULL AS platform, NULL AS workspace, NULL AS requester, NULL AS channel, count(*) AS n
FROM jobs WHERE status IN ('running', 'queued')
UNION ALL
SELECT platform, workspace, requester, channel, count(*) FROM jobs
WHERE status IN ('running', 'queued')
  AND (requester = ANY(CAST(:users AS text[])) OR channel = ANY(CAST(:channels AS text[])))
GROUP BY platform, workspace, requester, channel
""")
_QUEUE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('heavy.queue'))"
_REQUESTER_LOCKS = text("SELECT pg_advisory_xact_lock(hashtext('heavy.requester'), hashtext(k)) "
                        "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k")
_TASKS = text("WITH t AS (INSERT INTO job_tasks (job_id, task_id) SELECT * FROM "
              "unnest(CAST(:jobs AS text[]), CAST(:tasks AS bigint[])) RETURNING job_id) "
              "SELECT pg_notify(:channel, job_id) FROM t")
_CANCELLED = "The request was cancelled."
# A job taken from the queue but never started (`_give_back`): as it was before.
_UNTAKE = ("UPDATE jobs SET status = 'queued', attempts = attempts - 1, started_at = NULL "
           "WHERE id = %(id)s AND status = 'running'")
_FALLBACK_POLL_S = 5.0


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    await connection.set_autocommit(True)


def _requester(spec: JobSpec) -> str:
    return f"{spec.platform}:{spec.workspace}:{spec.user}"


async def _seen(session: AsyncSession, specs: list[JobSpec]) -> set[tuple[str, str]]:
    """The (platform, dedup key) pairs of these submissions that a job already has."""
    keys = {(spec.platform, spec.dedup_key) for spec in specs if spec.dedup_key is not None}
    if not keys:
        return set()
    rows = await session.execute(select(JobRow.platform, JobRow.dedup_key).where(
        tuple_(JobRow.platform, JobRow.dedup_key).in_(sorted(keys))))
    return {(platform, key) for platform, key in rows.all()}


async def _write_rows(session: AsyncSession, jobs: list[Job]) -> set[str]:
    """Insert the jobs' rows (and empty `jobs`); the ids written. A row whose dedup key is
    already taken (an event submitted twice at the same moment) is skipped, not an error."""
    if not jobs:
        return set()
    values = [job_values(job) for job in jobs]
    jobs.clear()
    # One cached statement with a parameter list (SQLAlchemy's "insertmanyvalues"). A multi-row
    # VALUES built per batch was compiled and converted afresh every time: ~1 ms of CPU per
    # job in a batch of 50, against ~0.3 ms this way.
    ids = await session.scalars(_INSERT_ROWS, values)
    return set(ids)


_INSERT_ROWS = pg_insert(JobRow).on_conflict_do_nothing().returning(JobRow.id)


class _Held:
    """Running and queued jobs in all, by requester and by channel: a batch's quick yes (a job
    may start even behind every queued job), counted forward as the batch places its jobs."""

    def __init__(self, total: int, by_user: Counter[tuple[str, str, str]],
                 by_channel: Counter[tuple[str, str, str]]) -> None:
        self.total, self.by_user, self.by_channel = total, by_user, by_channel

    @classmethod
    async def read(cls, session: AsyncSession, specs: list[JobSpec]) -> _Held:
        rows = (await session.execute(_HELD, {
            "users": sorted({spec.user for spec in specs}),
            "channels": sorted({spec.channel for spec in specs})})).all()
        by_user: Counter[tuple[str, str, str]] = Counter()
        by_channel: Counter[tuple[str, str, str]] = Counter()
        total = 0
        for platform, workspace, requester, channel, n in rows:
            if platform is None:
                total = int(n)
                continue
            by_user[platform, workspace, requester] += int(n)
            by_channel[platform, workspace, channel] += int(n)
        return cls(total, by_user, by_channel)

    def room(self, job: Job, max_running: int) -> bool:
        spec, limits = job.spec, job.config.limits
        return (self.total < max_running
                and self.by_user[spec.platform, spec.workspace, spec.user] < limits.per_user
                and self.by_channel[spec.platform, spec.workspace, spec.channel]
                < limits.per_channel)

    def add(self, spec: JobSpec) -> None:
        self.total += 1
        self.by_user[spec.platform, spec.workspace, spec.user] += 1
        self.by_channel[spec.platform, spec.workspace, spec.channel] += 1


# A run's events not yet stored, with the number of the first and the attempt: the last is
# always its `done` event, stored with the job's outcome.
_Tail = tuple[int, int, list[Event]] | None
_QUEUE_POOL = 20  # connections of the job queue's pool, per process
# How often a follower asks again for a running job's events (its worker may have changed).
_ASK_EVERY_S = 1.0
# How long a worker remembers that a job it does not run (yet) was asked for.
_ASKED_FOR_S = 5.0


class _Again(Exception):
    """Run this job later: no room under the limits yet, or its worker is stopping."""


class DistributedRunner:
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
        self.engine = engine
        self.store = store
        self.db = store.db
        self.config = config
        self.metrics = metrics or Metrics()
        self.work = work
        self.concurrency = concurrency or max(config.limits.max_concurrent_jobs, 1) + 4
        self.max_attempts = max_attempts
        self.heartbeat_s = heartbeat_s
        self.stalled_after_s = stalled_after_s
        self._resolve = resolve
        self._clock = clock
        self._deliveries: dict[str, Delivery] = {}
        self._runs: dict[str, Run] = {}
        self._stored = StoredResults()
        url = self.db.engine.url.render_as_string(hide_password=False)
        # Autocommit: each of procrastinate's queries is one statement, and without it every
        # fetch, finish and heartbeat also paid a BEGIN and a COMMIT round trip. The pool also
        # carries the worker's own per-job statements (`_direct`), and checks a connection on
        # checkout without a round trip (`queue_pool`). Its connections all open with the
        # queue, not in the first burst of jobs (as Database.warm does for SQLAlchemy's).
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(url), min_size=_QUEUE_POOL,
                                                  max_size=_QUEUE_POOL, configure=_autocommit,
                                                  pool_factory=queue_pool))
        # Jobs are taken several at a time and admitted in the same round trip, and a job's
        # last update is written with procrastinate's finish (`_manager`).
        self._manager = QueueManager(self.app.connector, self._free_slots, self._admit_params)
        self.app.job_manager = self._manager
        self.app.task(name=TASK, queue=QUEUE, pass_context=True,
                      # a connection lost before the run started (admission): later, anywhere
                      retry=RetryStrategy(retry_exceptions={_Again, psycopg.OperationalError},
                                          wait=1))(self._task)
        self.listener = Listener(url, on_follow=self._asked_for)
        self._direct = Direct(lambda: self.app.connector.pool)  # type: ignore[attr-defined]
        self._events = EventsWriter(self._direct)
        # Events are written while somebody follows the job (`_publish`): the publishers of the
        # jobs running here, and when each job was last asked for (by any replica).
        self._publishers: dict[str, asyncio.Event] = {}
        self._asked: dict[str, float] = {}
        self.worker_name = f"{socket.gethostname()}-{os.getpid()}"
        self.fetchers = fetchers
        self.poll_s = poll_s  # a job retried later is found by polling, not announced
        # Each fetch loop's worker now (a failed one is replaced: `_keep_fetching`; the waker
        # shares the list) and the task running the loop.
        self._fetch_workers: list[Worker] = []
        self._fetch_tasks: list[asyncio.Task[None]] = []
        self._side: list[asyncio.Task[None]] = []
        self._counts = (0, 0)
        self._intake = GroupCommit(self._record, max_size=200)
        self._accepting = True
        self._opened = False

    # -- the JobRunner protocol --------------------------------------------------------------

    def register_delivery(self, platform: str, delivery: Delivery) -> None:
        self._deliveries[platform] = delivery

    async def submit(self, spec: JobSpec) -> Job | None:
        job = await new_job(spec, accepting=self._accepting, metrics=self.metrics,
                            store=self.store, resolve=self._resolve, clock=self._clock)
        if job is None:
            return None
        # who may ask first (before budgets, the queue and any LLM call), as in DurableRunner
        refusal = access_refusal(job) or await over_budget(
            self.store, job, job.created_at or self._clock())
        outcome = await self._intake.add((job, refusal))
        if outcome is False:
            return None  # the same event, submitted at the same moment elsewhere
        if outcome is not None:
            raise refused(self.metrics, job, outcome)
        return accepted(self.metrics, job)

    async def _record(self, batch: list[tuple[Job, JobRejected | None]]
                      ) -> list[JobRejected | Literal[False] | None]:
        """Submissions that arrived together, in one transaction (group commit): for each,
        None when accepted (its `position` set), its refusal (recorded too, so a retried event
        finds its row and is dropped), or False for a duplicate.

        Each requester's submissions queue behind each other (their queue limit is exact);
        different requesters do not wait for each other, except that a job which would have to
        wait is placed again under one queue-wide lock, so the global queue size is exact across
        replicas. (A job placed as starting at once takes no queue lock: in a burst that fills
        the last running slots at the same moment, those few may wait beyond the queue size.)
        """
        results: list[JobRejected | Literal[False] | None] = []
        async with self.db.session() as session, session.begin():
            # every requester's lock in one statement, in one order (no deadlock between batches)
            await session.execute(_REQUESTER_LOCKS, {"keys": sorted({
                _requester(job.spec) for job, _ in batch})})
            seen = await _seen(session, [job.spec for job, _ in batch])
            held = await _Held.read(session, [job.spec for job, _ in batch])
            staged: list[Job] = []  # rows to write: accepted and refused
            written: set[str] = set()
            for job, refusal in batch:
                spec = job.spec
                if spec.dedup_key is not None:
                    if (spec.platform, spec.dedup_key) in seen:
                        results.append(False)
                        continue
                    seen.add((spec.platform, spec.dedup_key))
                if refusal is None and not held.room(job, self.config.limits.max_concurrent_jobs):
                    written |= await _write_rows(session, staged)  # the placement reads them
                    refusal, job.position = await self._place(session, job)
                    if job.position:  # it waits: counted again with every other waiting one
                        await session.execute(text(_QUEUE_LOCK))
                        refusal, job.position = await self._place(session, job)
                if refusal is not None:
                    job.status, job.error, job.finished_at = "failed", str(refusal), job.created_at
                else:
                    held.add(job.spec)
                results.append(refusal)
                staged.append(job)
            written |= await _write_rows(session, staged)
            accepted = [job for (job, _), result in zip(batch, results, strict=True)
                        if result is None and job.id in written]
            if accepted:
                await self._defer(session, accepted)
        # a row another replica wrote first (the same event at the same moment): a duplicate
        return [False if job.id not in written else result
                for (job, _), result in zip(batch, results, strict=True)]

    async def _defer(self, session: AsyncSession, jobs: list[Job]) -> None:
        """Queue the jobs' tasks (queueing lock = the job id) and remember each task; notify."""
        raw = await session.connection()
        dbapi = await raw.get_raw_connection()
        deferred = await self.app.job_manager.batch_defer_jobs_async(
            [pjobs.Job(id=None, queue=QUEUE, task_name=TASK, lock=None, queueing_lock=job.id,
                       task_kwargs={"job_id": job.id}) for job in jobs],
            connection=dbapi.driver_connection)
        await session.execute(_TASKS, {"jobs": [job.id for job in jobs],
                                       "tasks": [task.id for task in deferred],
                                       "channel": CHANNEL})

    async def seen(self, platform: str, dedup_key: str) -> bool:
        return await self.store.seen(platform, dedup_key)

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Cancel a queued job at once, or ask the worker running it to abort it."""
        async with self.db.session() as session, session.begin():
            row = await session.get(JobRow, job_id, with_for_update=True)
            task = await session.get(JobTaskRow, job_id, with_for_update=True)
            if row is None or row.status in FINAL_STATUSES or task is None:
                return False
            task.cancelled_by = by
            raw = await session.connection()
            conn = (await raw.get_raw_connection()).driver_connection
            manager = self.app.job_manager
            if row.status != "queued":
                if not await manager.cancel_job_by_id_async(task.task_id, abort=True,
                                                            connection=conn):
                    return False
                # Running: its worker aborts the run and records the end. Waiting for a
                # retry (its worker died or stopped): nobody runs it, so it ends here.
                status = await manager.get_job_status_async(task.task_id, connection=conn)
                if status != pjobs.Status.CANCELLED:
                    return True
            else:
                await manager.cancel_job_by_id_async(task.task_id, connection=conn)
            now = self._clock()
            result = failed_result(self.store._to_job(row), _CANCELLED)
            result.status = "cancelled"
            await session.execute(update(JobRow).where(JobRow.id == job_id).values(
                status="cancelled", error=_CANCELLED, finished_at=now,
                result=result.as_dict(), answer=""))
            await notify(session, job_id)
            self.metrics.jobs_finished.inc(platform=row.platform, status="cancelled")
            return True

    def get_run(self, job_id: str) -> Run | None:
        return self._runs.get(job_id)

    async def stored(self, job: Job) -> None:
        await self._stored.wait(job.id)

    async def save_reply(self, job: Job) -> None:
        await self.store.save_reply(job)

    async def answered_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        return await self.store.asked_in(platform, workspace, channel, thread)

    # -- what `heavy serve` and the API use beyond the protocol ------------------------------

    @property
    def accepting(self) -> bool:
        return self._accepting

    def counts(self) -> tuple[int, int]:
        """(queued, running) across every replica, refreshed every second."""
        return self._counts

    def changed(self) -> asyncio.Event:
        return self.listener.any_changed()

    async def get_job(self, job_id: str) -> Job | None:
        job = await self.store.get(job_id)
        if job is not None and job.status == "queued":
            async with self.db.session() as session:
                ahead = await session.scalar(select(func.count()).select_from(JobRow).where(
                    JobRow.status == "queued", JobRow.created_at <= job.created_at,
                    JobRow.id != job.id))
            job.position = int(ahead or 0) + 1
        return job

    async def follow(self, job_id: str, after: int = 0) -> AsyncIterator[
            tuple[int | None, str, dict[str, Any]]]:
        """`(number, type, data)` of the job's events after `after`, then live ones; `status`
        items (number None) when the status changes; ends after the final status."""
        last: dict[str, Any] | None = None
        asked = -_ASK_EVERY_S
        while True:
            changed = self.listener.job_changed(job_id)
            job = await self.get_job(job_id)
            if job is None:
                return
            for row in await read_events(self.db, job_id, after):
                after = row.seq
                yield row.seq, row.type, row.data
            state = status_view(job)
            if state != last:
                yield None, "status", state
                last = state
            if job.status in FINAL_STATUSES:
                return
            if job.status == "running" and time.monotonic() - asked >= _ASK_EVERY_S:
                # Its worker writes its events only while somebody asks (`_publish`); asked
                # again now and then: after a crash another worker runs it.
                await ask_for_events(self._direct, job_id)
                asked = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _ASK_EVERY_S)

    async def start(self) -> int:
        """Open the queue and the notifications; in a worker, start taking jobs."""
        await self.app.open_async()
        self._opened = True
        await self.listener.start()
        loop = asyncio.get_running_loop()
        self._side.append(loop.create_task(self._refresh_counts()))
        if self.work:
            # procrastinate fetches one job per round trip; several fetch loops (each a
            # procrastinate worker with its own heartbeat) keep a burst from queueing there.
            # One listener per replica wakes them, and every `poll_s` wakes one to look for
            # what is not announced (a retry) (`_wake`); their own polling is a fallback: an
            # empty fetch costs a round trip and ~1 ms of the database's CPU.
            share = max(self.concurrency // self.fetchers, 1)
            self._fetch_workers[:] = [self._new_worker(i, share) for i in range(self.fetchers)]
            self._fetch_tasks[:] = [loop.create_task(self._keep_fetching(i, share))
                                    for i in range(self.fetchers)]
            self._side.extend(self._fetch_tasks)
            waker = Waker(self.app, [QUEUE], self._fetch_workers, poll_s=self.poll_s)
            self._side.append(loop.create_task(waker.run()))
            self._side.append(loop.create_task(self._sweep()))
        return 0

    def _new_worker(self, i: int, share: int) -> Worker:
        return Worker(
            app=self.app, queues=[QUEUE], name=f"{self.worker_name}-{i}",
            concurrency=share, install_signal_handlers=False,
            update_heartbeat_interval=self.heartbeat_s,
            stalled_worker_timeout=self.stalled_after_s,
            fetch_job_polling_interval=max(self.poll_s, _FALLBACK_POLL_S),
            abort_job_polling_interval=1.0,
            listen_notify=False, wait=True)

    async def _keep_fetching(self, i: int, share: int) -> None:
        """Fetch loop `i`. procrastinate ends a worker at the first error of a fetch (a
        connection the server dropped, a fail-over), which would leave this replica taking no
        more jobs on that loop: a new worker takes its place, unless the runner is stopping.
        (The one that failed first waits for the jobs it was running, as on a shutdown.)"""
        while True:
            try:
                await self._fetch_workers[i].run()  # type: ignore[no-untyped-call]
                await self._give_back()
                return  # stopped
            except Exception as err:
                await self._give_back()
                if not self._accepting:
                    raise
                log.warning("job fetch loop %d stopped (%s); starting it again in 1 s", i, err)
            await asyncio.sleep(1.0)
            if not self._accepting:
                return
            self._fetch_workers[i] = self._new_worker(i, share)

    @property
    def _workers(self) -> list[tuple[Worker, asyncio.Task[None]]]:
        """The fetch loops as they are now: each one's current worker and its task."""
        return list(zip(self._fetch_workers, self._fetch_tasks, strict=True))

    def stop_intake(self) -> None:
        self._accepting = False

    async def shutdown(self, grace: float, force: asyncio.Event | None = None) -> None:
        """Stop intake; running jobs get `grace` seconds, then go back to the queue for
        another worker (procrastinate retries a job aborted by a shutdown)."""
        self._accepting = False
        if self._workers:
            for worker, _ in self._workers:
                worker.shutdown_graceful_timeout = grace
                worker.stop()  # type: ignore[no-untyped-call]
            # procrastinate stops a worker's heartbeat before it waits for the worker's running
            # jobs: past `stalled_after_s` the other replicas would take those jobs as stalled
            # and run them a second time while they finish here. Beat for them until then.
            beating = asyncio.get_running_loop().create_task(self._beat_while_draining())
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(
                [asyncio.shield(task) for _, task in self._workers]))}
            if force is not None:
                waiters.add(asyncio.ensure_future(force.wait()))
            await asyncio.wait(waiters, timeout=grace + 10, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            self._fetch_workers.clear()
            self._fetch_tasks.clear()
        for task in self._side:
            task.cancel()
        await asyncio.gather(*self._side, return_exceptions=True)
        self._side.clear()
        await self.listener.stop()
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def _beat_while_draining(self) -> None:
        manager = self.app.job_manager
        while True:
            for worker, _ in self._workers:
                if worker.worker_id is not None:  # None once it has unregistered
                    try:
                        await manager.update_heartbeat(worker.worker_id)
                    except Exception as err:
                        log.warning("heartbeat while draining failed: %s", err)
            await asyncio.sleep(self.heartbeat_s)

    async def drain(self) -> None:
        """Until nothing is queued or running in the database (tests)."""
        while True:
            queued, running = await self._count()
            if queued == 0 and running == 0:
                return
            await asyncio.sleep(0.05)

    # -- limits ------------------------------------------------------------------------------

    async def _place(self, session: AsyncSession, job: Job) -> tuple[JobRejected | None, int]:
        """(refusal, position): 0 when it can start at once, else its place in the queue
        (when `_Held.room` has no quick yes: this reads every running and queued job).

        Queued jobs that the limits let start now are starting, not waiting (a worker is about
        to admit them), exactly as the in-process runner would have started them already.
        Other jobs are judged by this job's per-user and per-channel limits.
        """
        def as_job(r: Any) -> Job:
            return Job(id=r.id, spec=JobSpec(platform=r.platform, workspace=r.workspace,
                                             channel=r.channel, user=r.requester, question=""),
                       config=job.config)

        columns = (JobRow.id, JobRow.platform, JobRow.workspace, JobRow.channel,
                   JobRow.requester)
        running = [as_job(r) for r in (await session.execute(
            select(*columns).where(JobRow.status == "running"))).all()]
        queue = [as_job(r) for r in (await session.execute(
            select(*columns).where(JobRow.status == "queued")
            .order_by(JobRow.created_at))).all()]
        chosen = startable([*queue, job], running, self.config.limits.max_concurrent_jobs)
        if any(j is job for j in chosen):
            return None, 0
        starting = {j.id for j in chosen}
        waiting = [j for j in queue if j.id not in starting]
        return queue_refusal(job, waiting, self.config.limits), len(waiting) + 1

    async def _admit(self, job_id: str) -> Job | None:
        """Mark the job running when the limits allow; None when it is over (cancelled or
        finished, before or while asking); raises `_Again` when it must wait.

        One autocommit statement: `heavy_admit_job()` reads the job, holds the global
        admission lock inside the database while it counts and starts it, and returns the
        row as it then is: running (admitted), waiting, or over. The job's own settings
        snapshot gives its per-user and per-channel limits (the fallback settings' when it
        has none).
        """
        fetched, row = self._manager.admission(job_id)
        if not fetched:  # admitted with its fetch, as a rule
            row = await self._direct.row(_ADMIT, {"id": job_id, **self._admit_params()})
        if row is None:
            return None
        job = self.store._to_job(JobRow(**{k: v for k, v in row.items() if k in _COLUMNS}))
        if job.status in FINAL_STATUSES:
            return None
        if job.status != "running":
            raise _Again("no room under the limits yet")
        job.position = 0
        return job

    def _admit_params(self) -> dict[str, Any]:
        """`heavy_admit_job()`'s clock and limits (a job's own settings give its per-user and
        per-channel limits; these when it has none)."""
        limits = self.store.fallback_config.limits
        return {"now": self._clock(), "max": self.config.limits.max_concurrent_jobs,
                "per_user": limits.per_user, "per_channel": limits.per_channel}

    def _free_slots(self, worker_id: int) -> int:
        """How many jobs the fetch loop with this procrastinate worker id can start now."""
        for worker in self._fetch_workers:
            if worker.worker_id == worker_id:
                return free_slots(worker)
        return 1

    async def _give_back(self) -> None:
        """Jobs taken for fetch loops that stopped, and never started, back to the queue as
        they were before (their admission undone), for any worker. One a user cancelled
        meanwhile is not retried by procrastinate: it ends here."""
        live = {w.worker_id for w in self._fetch_workers if w.worker_id is not None}
        for task in self._manager.drop_held(live):
            job_id = str(task.task_kwargs.get("job_id"))
            try:
                await self._direct.one(_UNTAKE, {"id": job_id})
                await self._manager.retry_job(task)
                assert task.id is not None
                if await self._manager.get_job_status_async(task.id) == pjobs.Status.FAILED:
                    await self._set(job_id, status="cancelled", error=_CANCELLED, answer="",
                                    finished_at=self._clock())
            except Exception as err:  # the stalled-job sweep retries it in the end
                log.warning("giving job %s back to the queue failed: %s", job_id, err)

    # -- running a job (on a worker) ---------------------------------------------------------

    async def _task(self, context: JobContext, job_id: str) -> None:
        job_id_var.set(job_id)
        job = await self._admit(job_id)
        if job is None:
            return
        started = time.monotonic()
        run: Run | None = None
        publisher: asyncio.Task[_Tail] | None = None
        delivery_task: asyncio.Task[None] | None = None
        # A result stored by an earlier attempt was stored with its events: replayed for the
        # delivery, not published again.
        replayed = job.result is not None
        try:
            if job.result is None and job.attempts > self.max_attempts:
                job.result = failed_result(
                    job, f"This question was interrupted {job.attempts - 1} times; giving up.")
            if job.result is None:
                refusal = await over_budget(self.store, job, job.started_at or self._clock())
                if refusal is not None:
                    job.result = failed_result(job, str(refusal))
            self._stored.begin(job)
            if job.result is not None:
                run = replay_run(job, job.result)
            else:
                run = self.engine.start(job_request(job))
            self._runs[job.id] = run
            loop = asyncio.get_running_loop()
            if not replayed:
                publisher = loop.create_task(self._publish(job, run))
            delivery = self._deliveries.get(job.spec.platform)
            if delivery is not None:
                delivery_task = loop.create_task(delivery.deliver(job, run))
            result = await run.wait()
            tail = await publisher if publisher is not None else None
            await self._complete(job, result, delivery_task, started, tail,
                                 finish=context.job.id)
        except asyncio.CancelledError:
            reason = context.abort_reason()
            if run is not None:
                run.cancel()
            if reason == AbortReason.USER_REQUEST and run is not None:
                # Stopped by a user: let the run end with its own `Done(cancelled)`.
                result = await run.wait()
                tail = await publisher if publisher is not None else None
                await self._complete(job, result, delivery_task, started, tail,
                                     finish=context.job.id)
                return
            if delivery_task is not None:
                delivery_task.cancel()
            if publisher is not None:
                publisher.cancel()
            await self._set(job.id, status="interrupted")
            log.warning("job %s interrupted (worker stopping); it goes back to the queue",
                        job.id)
            raise _Again("worker stopping") from None
        except _Again:
            raise
        except Exception:
            log.exception("job %s crashed", job.id)
            if delivery_task is not None:
                delivery_task.cancel()
            if run is not None:
                run.cancel()
            await self._set(job.id, status="failed",
                            error="An internal error stopped this request.",
                            finished_at=self._clock())
        finally:
            self._stored.end(job.id)
            self._runs.pop(job.id, None)

    async def _publish(self, job: Job, run: Run) -> _Tail:
        """Copy the run's events to `job_events` while somebody follows the job (any replica
        asks, `ask_for_events`), batching what arrives during a write. The rest, the run's
        `done` event last, is returned, not written: it is stored with the job's outcome
        (`_complete`), in one statement, both or neither, so a worker killed in between leaves
        a job that runs again, never one answered twice; and a job nobody watches (most: a
        chat answer is delivered from this process) costs no write of its own for its events.
        """
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
                    seq = await self._events.append(job.id, job.attempts, seq, ready)
        finally:
            self._publishers.pop(job.id, None)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _asked_for(self, job_id: str) -> None:
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
        return asked is not None and time.monotonic() - asked < _ASKED_FOR_S + _ASK_EVERY_S

    async def _complete(self, job: Job, result: Any, delivery_task: asyncio.Task[None] | None,
                        started: float, tail: _Tail = None, finish: int | None = None) -> None:
        """Store the run's outcome and end the job. With `finish` (its procrastinate job's
        id), the last update goes with procrastinate's finish of that job, after the task
        returns: one statement (`QueueManager.end_with`)."""
        outcome: dict[str, Any] = {}
        if job.result is None:
            job.result = result
            outcome = _outcome(job)
            if delivery_task is not None:
                await self._set(job.id, tail, **outcome)  # before the answer is posted
                outcome, tail = {}, None
            self.metrics.record_usage(result, job.config.effective_orchestrator_model)
        self._stored.done(job.id)
        delivered = True
        if delivery_task is not None:
            try:
                await delivery_task
            except Exception as err:
                log.error("delivery of job %s failed: %s", job.id, redact(repr(err)))
                delivered = False
        status: JobStatus = JOB_STATUS[result.status]
        error = result.error
        if not delivered and status == "done":
            status, error = "failed", "The answer could not be delivered."
        # Without a delivery nothing is posted: the outcome and the end share one write.
        final = {**outcome, "status": status, "error": error, "finished_at": self._clock()}
        if finish is None:
            await self._set(job.id, tail, **final)
        else:
            self._manager.end_with(finish, *self._update(job.id, tail, final))
        self.metrics.jobs_finished.inc(platform=job.spec.platform, status=status)
        self.metrics.job_duration.observe(time.monotonic() - started, platform=job.spec.platform)
        log.info("job %s %s", job.id, status)

    async def _set(self, job_id: str, tail: _Tail = None, **values: Any) -> None:
        """Update the job (and append its last events, `tail`, in the same statement) and
        notify its followers: one statement, one round trip."""
        ctes, params = self._update(job_id, tail, values)
        await self._direct.one(UPDATE.format(ctes=ctes), params)

    def _update(self, job_id: str, tail: _Tail, values: dict[str, Any]
                ) -> tuple[str, dict[str, Any]]:
        """`_set`'s update as WITH items (the last, `changed`, returns the row's id) and their
        parameters."""
        assert values and _COLUMNS.issuperset(values), values  # names from this module only
        sets = ", ".join(f"{name} = %({name})s" for name in values)
        params: dict[str, Any] = {
            name: json(v) if name == "result" and v is not None else v
            for name, v in values.items()}
        append = ""
        if tail is not None and tail[2]:
            first, attempt, events = tail
            append = ("appended AS (INSERT INTO job_events (job_id, seq, attempt, type, data, at) "
                      "SELECT %(job_id_)s, r.seq, %(attempt_)s, r.type, r.data, %(at_)s "
                      "FROM json_to_recordset(CAST(%(rows_)s AS json)) "
                      "AS r(seq integer, type varchar, data json)), ")
            params.update(attempt_=attempt, at_=self._clock(), rows_=dump_json([
                {"seq": first + i, "type": event.type, "data": event.as_dict()}
                for i, event in enumerate(events)]))
        return (f"{append}changed AS (UPDATE jobs SET {sets} WHERE id = %(job_id_)s "
                "RETURNING id)", {**params, "job_id_": job_id, "channel_": CHANNEL})

    # -- housekeeping ------------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Hand the jobs of workers whose heartbeat stopped back to the queue."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(max(self.heartbeat_s, 0.2))
            try:
                await manager.prune_stalled_workers(self.stalled_after_s)
                for stalled in await manager.get_stalled_jobs(
                        queue=QUEUE, task_name=TASK,
                        seconds_since_heartbeat=self.stalled_after_s):
                    log.warning("job %s stalled on a dead worker; retrying it here",
                                stalled.task_kwargs.get("job_id"))
                    with contextlib.suppress(AlreadyEnqueued):
                        await manager.retry_job(stalled)
            except Exception as err:
                log.warning("stalled-job sweep failed: %s", err)

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

