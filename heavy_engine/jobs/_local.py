"""The local backend: one process on SQLite, the queue in memory and every job in the database.

Restarts. A graceful stop (`shutdown`) refuses new jobs, lets running ones finish within the
grace period and marks the rest `interrupted`. On `start`, every job left `queued`, `running`
(the process died: crash or `kill -9`) or `interrupted` is queued again, oldest first, and its
attempt count kept. A job whose run had finished is not run again: its stored result is
replayed to the front end, which uses `job.reply` to avoid posting twice. A job interrupted
`max_attempts` times fails instead of looping forever (`Lifecycle`).

One runner per database: a second process would take over the first one's running jobs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from ..core import Done, Engine, HeavyConfig, Run
from ..db import utcnow
from ..observability import Metrics, job_id_var
from ._backend import Admission
from ._contract import CANCELLED, FINAL_STATUSES, ConfigResolver, FollowItem, Job, JobRejected
from ._finish import save_end, save_retrying
from ._ingest import GroupInsert
from ._lifecycle import Lifecycle
from ._limits import RunningJobs, queue_refusal, startable
from ._runner import Runner
from ._store import JobStore

log = logging.getLogger("heavy.runtime")


class DurableRunner(Runner):
    """The runner of one process on SQLite (`LocalBackend`)."""

    backend: LocalBackend

    def __init__(
        self,
        engine: Engine,
        store: JobStore,
        resolve: ConfigResolver,
        config: HeavyConfig,
        *,
        metrics: Metrics | None = None,
        max_attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        lifecycle = Lifecycle(engine, store, metrics or Metrics(), max_attempts=max_attempts,
                              clock=clock)
        super().__init__(LocalBackend(lifecycle, config), lifecycle, resolve, config)


class LocalBackend:
    def __init__(self, lifecycle: Lifecycle, config: HeavyConfig) -> None:
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.metrics = lifecycle.metrics
        self.config = config
        self._clock = lifecycle.clock
        self._queue: list[Job] = []
        self._running = RunningJobs()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unsaved: dict[str, Job] = {}  # ended, but the database refused the end
        # Admission is one synchronous step on the loop (limits checked against the queue,
        # the running jobs and the admitted jobs whose rows are being written); the rows of
        # concurrent submissions are then committed together (group commit).
        self._admitting = RunningJobs()
        self._waiting = RunningJobs()  # the queue and the admitted jobs, counted
        self._rows = GroupInsert(self.store.db)
        self._changed = asyncio.Event()
        # Nothing is launched until `start()` has taken back what a previous process left
        # unfinished (submissions are recorded meanwhile).
        self._started = False
        self._stopping = False

    # -- admission and queueing --------------------------------------------------------------

    async def admit(self, job: Job, refusal: JobRejected | None) -> Admission:
        if refusal is None:
            refusal = self._queue_refusal(job)  # no await between this check and admitting
        if refusal is not None:
            # Refusals are recorded too: a retried event then finds its row and is dropped.
            job.status, job.error, job.finished_at = "failed", str(refusal), job.created_at
            return refusal if await self._rows.insert(job) else False
        self._admitting[job.id] = job  # counted by the limits from here on
        self._waiting[job.id] = job
        inserted = False
        try:
            inserted = await self._rows.insert(job)
        finally:
            del self._admitting[job.id]
            if not inserted:
                self._waiting.pop(job.id, None)
        if not inserted:
            self._pump()  # its place is free again
            return False
        self._queue.append(job)
        self._pump()
        return None

    def _queue_refusal(self, job: Job) -> JobRejected | None:
        """Synchronous on purpose: the check and the admission are one step on the loop."""
        if self._running.fits(job, self._waiting, self.config.limits.max_concurrent_jobs):
            return None  # no need to go through a burst of a thousand admitted jobs
        queue = [*self._queue, *self._admitting.values()]
        chosen = startable([*queue, job], self._running,
                           self.config.limits.max_concurrent_jobs)
        if any(j is job for j in chosen):
            return None
        # Admitted jobs the limits let start are starting, not waiting (their rows are on
        # their way; `_pump` launches them then).
        starting = {id(j) for j in chosen}
        return queue_refusal(job, [j for j in queue if id(j) not in starting],
                             self.config.limits)

    async def cancel(self, job_id: str, *, by: str | None) -> bool:
        """Cancel a queued or running job; False when it is unknown or already over."""
        queued = self._queued(job_id)
        if queued is not None:
            self._queue.remove(queued)
            self._waiting.pop(job_id, None)
            queued.stopped_by = by
            await self.lifecycle.end(queued, "cancelled", CANCELLED, self, with_result=False)
            self._pump()
            return True
        running = self._running.get(job_id)
        if running is None:
            return False
        stopped = self.lifecycle.cancel(job_id)
        if stopped and running.stopped_by is None:
            running.stopped_by = by  # set before the run's `Done` reaches the delivery
        return stopped

    async def get_job(self, job_id: str) -> Job | None:
        """The live job when queued or running here, else the stored one."""
        return (self._running.get(job_id) or self._queued(job_id)
                or self._unsaved.get(job_id) or await self.store.get(job_id))

    def counts(self) -> tuple[int, int]:
        """(queued, running)."""
        return len(self._queue), len(self._running)

    def _queued(self, job_id: str) -> Job | None:
        return next((j for j in self._queue if j.id == job_id), None)

    def _not_queued(self, jobs: list[Job]) -> list[Job]:
        queued = {j.id for j in self._queue} | self._admitting.keys()
        return [j for j in jobs if j.id not in queued]

    # -- following: the live run ---------------------------------------------------------------

    def watch(self, job_id: str) -> asyncio.Event:
        return self._changed  # any job's change: status, queue position, a run started

    @property
    def recheck_s(self) -> float | None:
        return None

    async def events(self, job: Job, after: int) -> AsyncIterator[FollowItem]:
        """A running job's live run, its events after `after` to its `Done`. Of a job over,
        only its result is kept: its `Done`, to a follower who has seen no event."""
        if job.status in FINAL_STATUSES:
            if after == 0 and job.result is not None:
                yield None, "done", Done(result=job.result).as_dict()
            return
        run = self.lifecycle.runs.get(job.id)
        if run is not None:
            number = 0
            async for event in run.stream():
                number += 1
                if number > after:
                    yield number, event.type, event.as_dict()

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> int:
        """Queue again what a previous process left unfinished (ahead of anything submitted
        since), then launch jobs; returns how many were picked up."""
        # Jobs submitted meanwhile are in the table and in the queue: keep the queue's copy.
        # Checked after every await here, since a submission can land during any of them.
        recovered = self._not_queued(await self.store.unfinished())
        for job in recovered:
            if job.status != "queued":
                log.warning("job %s was %s when the last process stopped; resuming it "
                            "(attempt %d)", job.id, job.status, job.attempts + 1)
            job.status = "queued"
            await self.store.save(job)
        recovered = self._not_queued(recovered)
        self._queue[:0] = recovered
        for job in recovered:
            self._waiting[job.id] = job
        self.metrics.jobs_recovered.inc(len(recovered))
        self._started = True
        self._pump()
        return len(recovered)

    async def shutdown(self, grace: float, force: asyncio.Event | None) -> None:
        """Let running jobs finish for up to `grace` seconds (or until `force` is set, e.g. by
        a second Ctrl-C), then interrupt the rest.

        Queued jobs stay queued in the database for the next process.
        """
        self._stopping = True
        tasks = list(self._tasks.values())
        if tasks:
            log.info("waiting up to %g s for %d running jobs", grace, len(tasks))
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(tasks))}
            if force is not None:
                waiters.add(asyncio.ensure_future(force.wait()))
            await asyncio.wait(waiters, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            pending = [t for t in tasks if not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def drain(self) -> None:
        while self._queue or self._tasks:
            event = self._changed
            await event.wait()

    # -- scheduling --------------------------------------------------------------------------

    def _pump(self) -> None:
        """Start what the limits allow and renumber the queue."""
        if self._started and not self._stopping:
            for job in startable(self._queue, self._running,
                                 self.config.limits.max_concurrent_jobs):
                self._queue.remove(job)
                self._waiting.pop(job.id, None)
                self._launch(job)
        for i, job in enumerate(self._queue, 1):
            job.position = i
        self.metrics.set_active(len(self._queue), len(self._running))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _launch(self, job: Job) -> None:
        job.status, job.position = "running", 0
        self._running[job.id] = job
        ctx = contextvars.copy_context()
        ctx.run(job_id_var.set, job.id)  # logs made for this job carry its id
        task = asyncio.get_running_loop().create_task(self._execute(job), context=ctx)
        self._tasks[job.id] = task

    async def _execute(self, job: Job) -> None:
        try:
            await self.lifecycle.run(job, self)
        finally:
            self._running.pop(job.id, None)
            self._tasks.pop(job.id, None)
            self._pump()

    # -- the `Steps` of a job running here -----------------------------------------------------

    async def begin(self, job: Job) -> None:
        job.attempts += 1
        job.started_at = self._clock()
        await self.store.save(job)

    def running(self, job: Job, run: Run, replayed: bool) -> None:
        self._notify()  # followers now read the run

    async def store_result(self, job: Job) -> None:
        await save_retrying(self.store, job)

    async def end(self, job: Job, *, with_result: bool) -> None:
        # A save writes the whole outcome: `with_result` changes nothing here.
        if not await save_end(self.store, job):
            self._unsaved[job.id] = job  # readers and SSE streams still see it end

    def halt(self) -> None:
        pass  # nothing runs beside a local job but its delivery

    async def interrupted(self, job: Job) -> None:
        job.status = "interrupted"
        await self.store.save(job)
        log.warning("job %s interrupted by shutdown", job.id)

    def stopped_by_user(self) -> bool:
        return False  # a user's Stop cancels the run, never this task
