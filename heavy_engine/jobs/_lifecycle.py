"""Running one job, written once for both backends.

Whichever backend admitted the job (the local one launches it from its in-process queue, the
distributed one takes it from procrastinate's queue), it runs the same way:

1. the attempt is recorded (`Steps.begin`);
2. it fails without running when its stored settings no longer validate, when it was
   interrupted too often, or when the day's budget was spent while it waited (usage lands when
   jobs end, so every job queued behind the first passed the check at submission);
3. a result stored by an earlier attempt is replayed (no model is asked twice), else the
   engine runs it, and its platform's delivery renders the run beside this task;
4. the result is stored before the answer is posted (`stored` is signalled then, and the reply
   pipeline waits for it), or with the job's end when nothing delivers it;
5. the delivery is awaited and the run's status becomes the job's (`done` becomes `failed`
   when the answer could not be delivered).

A shutdown interrupts the job (`Steps.interrupted`: it runs again on the next start, or on
another worker); anything unexpected fails it with a reference that the log holds too.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ..core import Engine, Run, RunResult
from ..observability import Metrics, redact
from ._contract import CANCELLED, JOB_STATUS, Delivery, Job, JobStatus
from ._limits import over_budget
from ._results import StoredResults, failed_result, job_request, replay_run
from ._store import JobStore

log = logging.getLogger("heavy.runtime")
UNDELIVERED = "The answer could not be delivered."


class Steps(Protocol):
    """Where a backend records a job's course: the local one in SQLite from this process, the
    distributed one on PostgreSQL beside the queue's own bookkeeping."""

    async def begin(self, job: Job) -> None:
        """The attempt starts: count it in `attempts` and stamp `started_at` (unless the
        admission did)."""
        ...

    def running(self, job: Job, run: Run, replayed: bool) -> None:
        """The run exists (followers may read it); `replayed`: rebuilt from a stored result."""
        ...

    async def store_result(self, job: Job) -> None:
        """Store `job.result` now: the delivery posts no answer before."""
        ...

    async def end(self, job: Job, *, with_result: bool) -> None:
        """Store the job's end (`status`, `error`, `finished_at`; `result` with `with_result`)."""
        ...

    def halt(self) -> None:
        """The run is abandoned (a crash, a shutdown): stop what runs beside it."""
        ...

    async def interrupted(self, job: Job) -> None:
        """A shutdown stopped the run: record it for the next attempt (may raise what the
        queue needs to retry the job)."""
        ...

    def stopped_by_user(self) -> bool:
        """Whether this task is being cancelled by a user's Stop (the run then ends as
        cancelled, and the job with it), rather than by a shutdown."""
        ...


class Lifecycle:
    """Runs admitted jobs (`run`), and holds what both backends share while they run: the
    deliveries by platform, the live runs and which results are stored."""

    def __init__(self, engine: Engine, store: JobStore, metrics: Metrics, *,
                 max_attempts: int, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.store = store
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.clock = clock
        self.deliveries: dict[str, Delivery] = {}
        self.runs: dict[str, Run] = {}
        self.stored = StoredResults()
        self._cancel_requested: set[str] = set()

    def cancel(self, job_id: str) -> bool:
        """Cancel the run of a job running here; a job launched whose run does not exist yet
        is cancelled as soon as it does."""
        run = self.runs.get(job_id)
        if run is None:
            self._cancel_requested.add(job_id)
            return True
        return run.cancel()  # even before its first step, a run ends with `Done` (the engine)

    async def run(self, job: Job, steps: Steps) -> None:
        """Run the admitted `job` to its end (see the module's docstring)."""
        if job.created_at is not None:
            waited = (self.clock() - job.created_at).total_seconds()
            self.metrics.queue_wait.observe(max(waited, 0.0), platform=job.spec.platform)
        started = time.monotonic()
        run: Run | None = None
        delivery: asyncio.Task[None] | None = None
        replayed = ran = False
        try:
            await steps.begin(job)
            replayed = job.result is not None  # stored by an earlier attempt
            self.stored.begin(job)
            if not replayed:
                job.result = await self._refusal(job)
            if job.result is not None:
                run = replay_run(job, job.result)
            else:
                run, ran = self.engine.start(job_request(job)), True
            self.runs[job.id] = run
            steps.running(job, run, replayed)
            if job.id in self._cancel_requested:
                run.cancel()
            target = self.deliveries.get(job.spec.platform)
            if target is not None:
                delivery = asyncio.get_running_loop().create_task(target.deliver(job, run))
            result = await run.wait()
            await self._complete(job, result, steps, replayed=replayed, ran=ran,
                                 delivery=delivery, started=started)
        except asyncio.CancelledError:
            if run is None and steps.stopped_by_user():
                # Stopped before its run existed: it ends here, never to run again (an
                # interruption would send it back to the queue).
                await self.end(job, "cancelled", CANCELLED, steps, with_result=False)
                return
            if run is not None and steps.stopped_by_user():
                run.cancel()  # the run ends with its own `Done(cancelled)`, and the job with it
                result = await run.wait()
                await self._complete(job, result, steps, replayed=replayed, ran=ran,
                                     delivery=delivery, started=started)
                return
            # A shutdown: stop the front end first, so it does not render the run's
            # cancellation, then the run; the job runs again later.
            if delivery is not None:
                delivery.cancel()
            steps.halt()
            if run is not None:
                run.cancel()
            await steps.interrupted(job)
            raise
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("job %s crashed (reference %s)", job.id, reference)
            if delivery is not None:
                delivery.cancel()
            steps.halt()
            if run is not None:
                run.cancel()
            await self.end(job, "failed",
                            f"An internal error stopped this request (reference {reference}).",
                            steps, with_result=False)
        finally:
            self.stored.end(job.id)
            self.runs.pop(job.id, None)
            self._cancel_requested.discard(job.id)

    async def _refusal(self, job: Job) -> RunResult | None:
        """The failure that ends `job` without running it, if any."""
        if job.id in self.store.invalid:
            return failed_result(
                job, "The settings this question was asked with are no longer valid.")
        if job.attempts > self.max_attempts:
            return failed_result(
                job, f"This question was interrupted {job.attempts - 1} times; giving up.")
        refusal = await over_budget(self.store, job, job.started_at or self.clock())
        if refusal is None:
            return None
        self.metrics.jobs_rejected.inc(platform=job.spec.platform, reason=refusal.reason)
        return failed_result(job, str(refusal))

    async def _complete(self, job: Job, result: RunResult, steps: Steps, *, replayed: bool,
                        ran: bool, delivery: asyncio.Task[None] | None, started: float) -> None:
        """Store the result, wait for the delivery, end the job."""
        unstored = not replayed
        if unstored:
            job.result = result
            if ran:
                self.metrics.record_usage(result, job.config.effective_orchestrator_model)
            if delivery is not None:
                await steps.store_result(job)  # before the answer is posted
                unstored = False
        # Without a delivery nothing is posted: the result and the end share one write.
        self.stored.done(job.id)
        status: JobStatus = JOB_STATUS[result.status]
        error = result.error
        if not await _delivered(job, delivery) and status == "done":
            status, error = "failed", UNDELIVERED
        # Counted before the final write, so whoever sees the job finished sees it counted.
        self.metrics.job_duration.observe(time.monotonic() - started,
                                          platform=job.spec.platform)
        await self.end(job, status, error, steps, with_result=unstored)

    async def end(self, job: Job, status: JobStatus, error: str | None, steps: Steps, *,
                  with_result: bool) -> None:
        """End `job` with `status`: counted, then stored (`Steps.end`), then logged."""
        job.status, job.error, job.finished_at = status, error, self.clock()
        self.metrics.jobs_finished.inc(platform=job.spec.platform, status=status)
        await steps.end(job, with_result=with_result)
        log.info("job %s %s", job.id, status)


async def _delivered(job: Job, task: asyncio.Task[None] | None) -> bool:
    """Whether the delivery (if any) ended without an error."""
    if task is None:
        return True
    try:
        await task
    except Exception as err:
        log.error("delivery of job %s failed: %s", job.id, redact(repr(err)), exc_info=err)
        return False
    return True
