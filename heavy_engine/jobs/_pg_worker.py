"""A replica's worker side on PostgreSQL: fetch loops, admission, heartbeats, the stalled sweep.

A worker (`heavy worker`, or `heavy serve` in role `all`) takes a job from procrastinate's queue
and admits it in the same round trip when the running counts allow (global, per user, per
channel; else procrastinate retries it a second later: `_Again`), then runs it
(`Lifecycle.run`, with `PgSteps` recording its course). Each fetch loop is a procrastinate
worker with its own heartbeat; each replica also sweeps for jobs of workers whose heartbeat
stopped (`kill -9`, a lost node) and hands them back to the queue, so they resume on a live
worker. Cancel is procrastinate's abort: the worker running the job cancels the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from procrastinate import App, JobContext, RetryStrategy
from procrastinate import jobs as pjobs
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.job_context import AbortReason
from procrastinate.worker import Worker

from ..core import HeavyConfig, Run
from ..db import JobRow
from ..observability import job_id_var
from ._contract import CANCELLED, FINAL_STATUSES, Job
from ._direct import Direct
from ._lifecycle import Lifecycle
from ._manager import QueueManager
from ._pg_intake import QUEUE, TASK
from ._pg_publish import Publisher
from ._pg_rows import RowWriter, Tail
from ._store import _outcome
from ._wake import Waker, free_slots

log = logging.getLogger("heavy.runtime")
# Start a job if the running counts leave room (migrations 0009 and 0010: the global admission
# lock, the conditional update and its notification, all server-side); the job's row as it is
# after the call (`admit`). Autocommit: the lock lasts one round trip.
_ADMIT = ("SELECT * FROM heavy_admit_job(%(id)s, %(now)s, %(max)s, %(per_user)s, "
          "%(per_channel)s)")
_COLUMNS = frozenset(JobRow.__table__.columns.keys())
# A job taken from the queue but never started (`give_back`): as it was before.
_UNTAKE = ("UPDATE jobs SET status = 'queued', attempts = attempts - 1, started_at = NULL "
           "WHERE id = %(id)s AND status = 'running'")
_FALLBACK_POLL_S = 5.0


class _Again(Exception):
    """Run this job later: no room under the limits yet, or its worker is stopping."""


class PgSteps:
    """The `Steps` of one job on a worker: its events published while followed, its result
    and end written with its last events, the end with procrastinate's finish of its task."""

    def __init__(self, workers: Workers, context: JobContext) -> None:
        self._workers = workers
        self._context = context
        self._publishing: asyncio.Task[Tail] | None = None

    async def begin(self, job: Job) -> None:
        pass  # the admission counted the attempt and stamped `started_at`

    def running(self, job: Job, run: Run, replayed: bool) -> None:
        # A result stored by an earlier attempt was stored with its events: not published again.
        if not replayed:
            self._publishing = asyncio.get_running_loop().create_task(
                self._workers.publisher.publish(job, run))

    async def _tail(self) -> Tail:
        """The run's events not written yet (once: later calls get none)."""
        publishing, self._publishing = self._publishing, None
        return await publishing if publishing is not None else None

    async def store_result(self, job: Job) -> None:
        await self._workers.rows.set(job.id, await self._tail(), **_outcome(job))

    async def end(self, job: Job, *, with_result: bool) -> None:
        # The last update goes with procrastinate's finish of the task, after it returns: one
        # statement (`QueueManager.end_with`).
        final = {**(_outcome(job) if with_result else {}), "status": job.status,
                 "error": job.error, "finished_at": job.finished_at}
        assert self._context.job.id is not None
        self._workers.manager.end_with(self._context.job.id, *self._workers.rows.update(
            job.id, await self._tail(), final))

    def halt(self) -> None:
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None

    async def interrupted(self, job: Job) -> None:
        await self._workers.rows.set(job.id, status="interrupted")
        log.warning("job %s interrupted (worker stopping); it goes back to the queue", job.id)
        raise _Again("worker stopping") from None

    def stopped_by_user(self) -> bool:
        return self._context.abort_reason() == AbortReason.USER_REQUEST


class Workers:
    """The fetch loops of one replica and what keeps them honest (heartbeats, the sweep,
    giving back what a stopped loop held)."""

    def __init__(self, app: App, direct: Direct, lifecycle: Lifecycle, rows: RowWriter,
                 publisher: Publisher, config: HeavyConfig, *, stopping: Callable[[], bool],
                 concurrency: int, fetchers: int, poll_s: float, heartbeat_s: float,
                 stalled_after_s: float, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.direct = direct
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.rows = rows
        self.publisher = publisher
        self.config = config
        self._stopping = stopping
        self.concurrency = concurrency
        self.fetchers = fetchers
        self.poll_s = poll_s  # a job retried later is found by polling, not announced
        self.heartbeat_s = heartbeat_s
        self.stalled_after_s = stalled_after_s
        self._clock = clock
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        # Jobs are taken several at a time and admitted in the same round trip, and a job's
        # last update is written with procrastinate's finish (`_manager`).
        self.manager = QueueManager(app.connector, self.free_slots, self.admit_params)
        app.job_manager = self.manager
        app.task(name=TASK, queue=QUEUE, pass_context=True,
                 # a connection lost before the run started (admission): later, anywhere
                 retry=RetryStrategy(retry_exceptions={_Again, psycopg.OperationalError},
                                     wait=1))(self.run_task)
        # Each fetch loop's worker now (a failed one is replaced: `_keep_fetching`; the waker
        # shares the list) and the task running the loop.
        self.fetch_workers: list[Worker] = []
        self.fetch_tasks: list[asyncio.Task[None]] = []

    # -- running a job -------------------------------------------------------------------------

    async def run_task(self, context: JobContext, job_id: str) -> None:
        """procrastinate's task: admit the job, then run it."""
        job_id_var.set(job_id)
        job = await self.admit(job_id)
        if job is not None:
            await self.lifecycle.run(job, PgSteps(self, context))

    async def admit(self, job_id: str) -> Job | None:
        """Mark the job running when the limits allow; None when it is over (cancelled or
        finished, before or while asking); raises `_Again` when it must wait.

        One autocommit statement: `heavy_admit_job()` reads the job, holds the global
        admission lock inside the database while it counts and starts it, and returns the
        row as it then is: running (admitted), waiting, or over. The job's own settings
        snapshot gives its per-user and per-channel limits (the fallback settings' when it
        has none).
        """
        fetched, row = self.manager.admission(job_id)
        if not fetched:  # admitted with its fetch, as a rule
            row = await self.direct.row(_ADMIT, {"id": job_id, **self.admit_params()})
        if row is None:
            return None
        job = self.store._to_job(JobRow(**{k: v for k, v in row.items() if k in _COLUMNS}))
        if job.status in FINAL_STATUSES:
            return None
        if job.status != "running":
            raise _Again("no room under the limits yet")
        job.position = 0
        return job

    def admit_params(self) -> dict[str, Any]:
        """`heavy_admit_job()`'s clock and limits (a job's own settings give its per-user and
        per-channel limits; these when it has none)."""
        limits = self.store.fallback_config.limits
        return {"now": self._clock(), "max": self.config.limits.max_concurrent_jobs,
                "per_user": limits.per_user, "per_channel": limits.per_channel}

    def free_slots(self, worker_id: int) -> int:
        """How many jobs the fetch loop with this procrastinate worker id can start now."""
        for worker in self.fetch_workers:
            if worker.worker_id == worker_id:
                return free_slots(worker)
        return 1

    # -- the fetch loops -----------------------------------------------------------------------

    def start(self) -> list[asyncio.Task[None]]:
        """Start the fetch loops, their waker and the stalled-job sweep; their tasks."""
        # procrastinate fetches one job per round trip; several fetch loops (each a
        # procrastinate worker with its own heartbeat) keep a burst from queueing there.
        # One listener per replica wakes them, and every `poll_s` wakes one to look for
        # what is not announced (a retry) (`_wake`); their own polling is a fallback: an
        # empty fetch costs a round trip and ~1 ms of the database's CPU.
        loop = asyncio.get_running_loop()
        share = max(self.concurrency // self.fetchers, 1)
        self.fetch_workers[:] = [self._new_worker(i, share) for i in range(self.fetchers)]
        self.fetch_tasks[:] = [loop.create_task(self._keep_fetching(i, share))
                               for i in range(self.fetchers)]
        waker = Waker(self.app, [QUEUE], self.fetch_workers, poll_s=self.poll_s)
        return [*self.fetch_tasks, loop.create_task(waker.run()), loop.create_task(self._sweep())]

    def _new_worker(self, i: int, share: int) -> Worker:
        return Worker(
            app=self.app, queues=[QUEUE], name=f"{self.name}-{i}",
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
                await self.fetch_workers[i].run()  # type: ignore[no-untyped-call]
                await self.give_back()
                return  # stopped
            except Exception as err:
                await self.give_back()
                if self._stopping():
                    raise
                log.warning("job fetch loop %d stopped (%s); starting it again in 1 s", i, err)
            await asyncio.sleep(1.0)
            if self._stopping():
                return
            self.fetch_workers[i] = self._new_worker(i, share)

    @property
    def loops(self) -> list[tuple[Worker, asyncio.Task[None]]]:
        """The fetch loops as they are now: each one's current worker and its task."""
        return list(zip(self.fetch_workers, self.fetch_tasks, strict=True))

    async def stop(self, grace: float, force: asyncio.Event | None) -> None:
        """Stop the fetch loops; their running jobs get `grace` seconds, then go back to the
        queue for another worker (procrastinate retries a job aborted by a shutdown)."""
        if not self.loops:
            return
        for worker, _ in self.loops:
            worker.shutdown_graceful_timeout = grace
            worker.stop()  # type: ignore[no-untyped-call]
        # procrastinate stops a worker's heartbeat before it waits for the worker's running
        # jobs: past `stalled_after_s` the other replicas would take those jobs as stalled
        # and run them a second time while they finish here. Beat for them until then.
        beating = asyncio.get_running_loop().create_task(self._beat_while_draining())
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(
            [asyncio.shield(task) for _, task in self.loops]))}
        if force is not None:
            waiters.add(asyncio.ensure_future(force.wait()))
        await asyncio.wait(waiters, timeout=grace + 10, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        self.fetch_workers.clear()
        self.fetch_tasks.clear()

    async def _beat_while_draining(self) -> None:
        while True:
            for worker, _ in self.loops:
                if worker.worker_id is not None:  # None once it has unregistered
                    try:
                        await self.manager.update_heartbeat(worker.worker_id)
                    except Exception as err:
                        log.warning("heartbeat while draining failed: %s", err)
            await asyncio.sleep(self.heartbeat_s)

    async def give_back(self) -> None:
        """Jobs taken for fetch loops that stopped, and never started, back to the queue as
        they were before (their admission undone), for any worker. One a user cancelled
        meanwhile is not retried by procrastinate: it ends here."""
        live = {w.worker_id for w in self.fetch_workers if w.worker_id is not None}
        for task in self.manager.drop_held(live):
            job_id = str(task.task_kwargs.get("job_id"))
            try:
                await self.direct.one(_UNTAKE, {"id": job_id})
                await self.manager.retry_job(task)
                assert task.id is not None
                if await self.manager.get_job_status_async(task.id) == pjobs.Status.FAILED:
                    await self.rows.set(job_id, status="cancelled", error=CANCELLED, answer="",
                                        finished_at=self._clock())
            except Exception as err:  # the stalled-job sweep retries it in the end
                log.warning("giving job %s back to the queue failed: %s", job_id, err)

    async def _sweep(self) -> None:
        """Hand the jobs of workers whose heartbeat stopped back to the queue."""
        while True:
            await asyncio.sleep(max(self.heartbeat_s, 0.2))
            try:
                await self.manager.prune_stalled_workers(self.stalled_after_s)
                for stalled in await self.manager.get_stalled_jobs(
                        queue=QUEUE, task_name=TASK,
                        seconds_since_heartbeat=self.stalled_after_s):
                    log.warning("job %s stalled on a dead worker; retrying it here",
                                stalled.task_kwargs.get("job_id"))
                    with contextlib.suppress(AlreadyEnqueued):
                        await self.manager.retry_job(stalled)
            except Exception as err:
                log.warning("stalled-job sweep failed: %s", err)
