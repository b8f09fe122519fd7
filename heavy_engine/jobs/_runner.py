"""`DurableRunner`: the job runner of `heavy serve`, with every job kept in the database.

Lifecycle of a job: `queued` (row written before anything else happens) -> `running` ->
`done` / `failed` / `cancelled`. The result is stored the moment the run ends, before the
front end has finished posting it.

Restarts. A graceful stop (`shutdown`) refuses new jobs, lets running ones finish within the
grace period and marks the rest `interrupted`. On `start`, every job left `queued`, `running`
(the process died: crash or `kill -9`) or `interrupted` is queued again, oldest first, and its
attempt count kept. A job whose run had finished is not run again: its stored result is
replayed to the front end, which uses `job.reply` to avoid posting twice. A job interrupted
`max_attempts` times fails instead of looping forever.

One runner per database: a second process would take over the first one's running jobs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..core._config import HeavyConfig
from ..core._engine import Engine, Run
from ..db import utcnow
from ..observability import Metrics, job_id_var, redact
from ._access import access_refusal
from ._contract import (
    JOB_STATUS,
    ConfigResolver,
    Delivery,
    Job,
    JobRejected,
    JobSpec,
    JobStatus,
)
from ._finish import save_end, save_retrying
from ._ingest import GroupInsert
from ._limits import RunningJobs, over_budget, queue_refusal, startable
from ._results import StoredResults, failed_result, job_request, replay_run
from ._store import JobStore
from ._submit import accepted, new_job, refused

log = logging.getLogger("heavy.runtime")


class DurableRunner:
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
        self.engine = engine
        self.store = store
        self.config = config  # operator settings: the process-wide limits come from here
        self.metrics = metrics or Metrics()
        self.max_attempts = max_attempts
        self._resolve = resolve
        self._clock = clock
        self._deliveries: dict[str, Delivery] = {}
        self._queue: list[Job] = []
        self._running = RunningJobs()
        self._runs: dict[str, Run] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: set[str] = set()
        self._unsaved: dict[str, Job] = {}  # ended, but the database refused the end
        self._stored = StoredResults()
        # Admission is one synchronous step on the loop (limits checked against the queue,
        # the running jobs and the admitted jobs whose rows are being written); the rows of
        # concurrent submissions are then committed together (group commit).
        self._admitting = RunningJobs()
        self._waiting = RunningJobs()  # the queue and the admitted jobs, counted
        self._rows = GroupInsert(store.db)
        self._changed = asyncio.Event()
        # Submissions are accepted (and recorded) from the start, but nothing is launched
        # until `start()` has taken back what a previous process left unfinished.
        self._accepting = True
        self._started = False
        self._stopping = False

    # -- the JobRunner protocol --------------------------------------------------------------

    def register_delivery(self, platform: str, delivery: Delivery) -> None:
        self._deliveries[platform] = delivery

    async def submit(self, spec: JobSpec) -> Job | None:
        job = await new_job(spec, accepting=self._accepting, metrics=self.metrics,
                            store=self.store, resolve=self._resolve, clock=self._clock)
        if job is None:
            return None
        refusal = access_refusal(job)  # who may ask: before budgets, the queue and any LLM call
        if refusal is None:  # a read: the budget is checked again when the job starts
            refusal = await over_budget(self.store, job, job.created_at or self._clock())
        if refusal is None:
            refusal = self._queue_refusal(job)  # no await between this check and admitting
        if refusal is not None:
            # Refusals are recorded too: a retried event then finds its row and is dropped.
            job.status, job.error, job.finished_at = "failed", str(refusal), job.created_at
            if not await self._rows.insert(job):
                return None
            raise refused(self.metrics, job, refusal)
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
            return None
        self._queue.append(job)
        self._pump()
        return accepted(self.metrics, job)

    async def seen(self, platform: str, dedup_key: str) -> bool:
        return await self.store.seen(platform, dedup_key)

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Cancel a queued or running job; False when it is unknown or already over."""
        queued = self._queued(job_id)
        if queued is not None:
            self._queue.remove(queued)
            self._waiting.pop(job_id, None)
            queued.stopped_by = by
            await self._finish(queued, "cancelled", "The request was cancelled.")
            self._pump()
            return True
        running = self._running.get(job_id)
        if running is None:
            return False
        run = self._runs.get(job_id)
        if run is None:  # launched, the run not created yet: `_execute` cancels it
            self._cancel_requested.add(job_id)
            stopped = True
        else:  # even before its first step, a run ends with `Done` (the engine)
            stopped = run.cancel()
        if stopped and running.stopped_by is None:
            running.stopped_by = by  # set before the run's `Done` reaches the delivery
        return stopped

    def get_run(self, job_id: str) -> Run | None:
        return self._runs.get(job_id)

    async def stored(self, job: Job) -> None:
        await self._stored.wait(job.id)

    async def save_reply(self, job: Job) -> None:
        await self.store.save_reply(job)

    async def answered_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        return await self.store.asked_in(platform, workspace, channel, thread)

    # -- beyond the protocol -----------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job | None:
        """The live job when queued or running here, else the stored one."""
        return (self._running.get(job_id) or self._queued(job_id)
                or self._unsaved.get(job_id) or await self.store.get(job_id))

    def changed(self) -> asyncio.Event:
        """An event set at the next change of any job's status or queue position."""
        return self._changed

    @property
    def accepting(self) -> bool:
        return self._accepting

    def counts(self) -> tuple[int, int]:
        """(queued, running)."""
        return len(self._queue), len(self._running)

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
            if job.id in self.store.invalid:
                job.result = failed_result(
                    job, "The settings this question was asked with are no longer valid.")
            elif job.result is None and job.attempts >= self.max_attempts:
                job.result = failed_result(
                    job, f"This question was interrupted {job.attempts} times; giving up.")
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

    def _queued(self, job_id: str) -> Job | None:
        return next((j for j in self._queue if j.id == job_id), None)

    def _not_queued(self, jobs: list[Job]) -> list[Job]:
        queued = {j.id for j in self._queue} | self._admitting.keys()
        return [j for j in jobs if j.id not in queued]

    def stop_intake(self) -> None:
        """Refuse new jobs from now on (the first step of a graceful stop)."""
        self._accepting = False

    async def shutdown(self, grace: float, force: asyncio.Event | None = None) -> None:
        """Stop intake, let running jobs finish for up to `grace` seconds (or until `force` is
        set, e.g. by a second Ctrl-C), then interrupt the rest.

        Queued jobs stay queued in the database for the next process.
        """
        self._accepting = False
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
        """Wait until nothing is queued or running (tests)."""
        while self._queue or self._tasks:
            event = self._changed
            await event.wait()

    # -- scheduling --------------------------------------------------------------------------

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
        queued_for = (self._clock() - job.created_at).total_seconds() if job.created_at else 0.0
        self.metrics.queue_wait.observe(max(queued_for, 0.0), platform=job.spec.platform)
        started = time.monotonic()
        delivery_task: asyncio.Task[None] | None = None
        try:
            job.attempts += 1
            job.started_at = self._clock()
            await self.store.save(job)
            if job.result is None:
                # Usage is counted when jobs end: jobs that queued while the budget still had
                # room must not start once it is spent.
                refusal = await over_budget(self.store, job, job.started_at)
                if refusal is not None:
                    job.result = failed_result(job, str(refusal))
                    await self.store.save(job)
                    self.metrics.jobs_rejected.inc(platform=job.spec.platform,
                                                   reason=refusal.reason)
            self._stored.begin(job)
            if job.result is not None:
                run = replay_run(job, job.result)
            else:
                run = self.engine.start(job_request(job))
            self._runs[job.id] = run
            self._notify()
            if job.id in self._cancel_requested:
                run.cancel()
            delivery = self._deliveries.get(job.spec.platform)
            if delivery is not None:
                delivery_task = asyncio.get_running_loop().create_task(
                    delivery.deliver(job, run))
            result = await run.wait()
            if job.result is None:
                job.result = result
                await save_retrying(self.store, job)  # stored before the answer is posted
                self.metrics.record_usage(result, job.config.effective_orchestrator_model)
            self._stored.done(job.id)
            delivered = await self._await_delivery(job, delivery_task)
            status: JobStatus = JOB_STATUS[result.status]
            error = result.error
            if not delivered and status == "done":
                status, error = "failed", "The answer could not be delivered."
            await self._finish(job, status, error)
            self.metrics.job_duration.observe(time.monotonic() - started,
                                              platform=job.spec.platform)
        except asyncio.CancelledError:
            # Shutdown after the grace period: stop the front end first, so it does not
            # render the run's cancellation, then the run; the job resumes on next start.
            if delivery_task is not None:
                delivery_task.cancel()
            self.engine.cancel(job.id)
            job.status = "interrupted"
            await self.store.save(job)
            log.warning("job %s interrupted by shutdown", job.id)
            raise
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("job %s crashed (reference %s)", job.id, reference)
            if delivery_task is not None:
                delivery_task.cancel()
            self.engine.cancel(job.id)
            await self._finish(job, "failed",
                               f"An internal error stopped this request (reference {reference}).")
        finally:
            self._stored.end(job.id)
            self._running.pop(job.id, None)
            self._runs.pop(job.id, None)
            self._tasks.pop(job.id, None)
            self._cancel_requested.discard(job.id)
            self._pump()

    async def _await_delivery(self, job: Job, task: asyncio.Task[None] | None) -> bool:
        if task is None:
            return True
        try:
            await task
        except Exception as err:
            log.error("delivery of job %s failed: %s", job.id, redact(repr(err)),
                      exc_info=err)
            return False
        return True

    async def _finish(self, job: Job, status: JobStatus, error: str | None) -> None:
        job.status = status
        job.error = error
        job.finished_at = self._clock()
        if not await save_end(self.store, job):
            self._unsaved[job.id] = job  # readers and SSE streams still see it end
        self.metrics.jobs_finished.inc(platform=job.spec.platform, status=status)
        log.info("job %s %s", job.id, status)
