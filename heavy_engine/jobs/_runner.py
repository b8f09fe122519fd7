"""`Runner`: the `JobRunner` of `heavy serve`, over a local or a distributed backend.

Every job is kept in the database. Lifecycle of a job: `queued` (its row is written before
anything else happens) -> `running` -> `done` / `failed` / `cancelled`; `interrupted` when a
shutdown stopped it, until it runs again. Running a job is `Lifecycle.run`; admission,
queueing, cancelling and where progress is kept are the backend's (`_backend`).
`DurableRunner` (`_local`) and `DistributedRunner` (`_distributed`) are this class on each
backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from ..core import HeavyConfig, Run, validate_question
from ._access import access_refusal
from ._backend import Backend
from ._contract import (
    FINAL_STATUSES,
    ConfigResolver,
    Delivery,
    FollowItem,
    Job,
    JobRejected,
    JobSpec,
)
from ._lifecycle import Lifecycle
from ._limits import over_budget
from ._views import status_view

log = logging.getLogger("heavy.runtime")


class Runner:
    def __init__(self, backend: Backend, lifecycle: Lifecycle, resolve: ConfigResolver,
                 config: HeavyConfig) -> None:
        self.backend = backend
        self.lifecycle = lifecycle
        self.engine = lifecycle.engine
        self.store = lifecycle.store
        self.metrics = lifecycle.metrics
        self.config = config  # operator settings: the process-wide limits come from here
        self._resolve = resolve
        self._clock: Callable[[], datetime] = lifecycle.clock
        # Submissions are taken (and recorded) from the start, even before `start()`.
        self._accepting = True

    def register_delivery(self, platform: str, delivery: Delivery) -> None:
        self.lifecycle.deliveries[platform] = delivery

    async def submit(self, spec: JobSpec) -> Job | None:
        if not self._accepting:
            self.metrics.jobs_rejected.inc(platform=spec.platform, reason="shutting_down")
            raise JobRejected("heavy is restarting; please ask again in a minute.",
                              "shutting_down")
        if spec.dedup_key is not None and await self.store.seen(spec.platform, spec.dedup_key):
            return None  # a retried event
        config = await self._resolve(spec)
        spec.question = validate_question(spec.question, config)
        job = Job(id=uuid.uuid4().hex[:16], spec=spec, config=config, created_at=self._clock())
        # Who may ask comes first (before budgets, the queue and any LLM call). The budget is
        # a read here: it is checked again when the job starts.
        refusal = access_refusal(job) or await over_budget(
            self.store, job, job.created_at or self._clock())
        outcome = await self.backend.admit(job, refusal)
        if outcome is False:
            return None  # the same event, recorded first by another submission
        if outcome is not None:
            self.metrics.jobs_rejected.inc(platform=spec.platform, reason=outcome.reason)
            log.info("job %s refused (%s)", job.id, outcome.reason)
            raise outcome
        self.metrics.jobs_submitted.inc(platform=spec.platform)
        log.info("job %s from %s: %s", job.id, spec.platform,
                 f"queued at position {job.position}" if job.position else "starting")
        return job

    async def seen(self, platform: str, dedup_key: str) -> bool:
        return await self.store.seen(platform, dedup_key)

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        return await self.backend.cancel(job_id, by=by)

    def get_run(self, job_id: str) -> Run | None:
        return self.lifecycle.runs.get(job_id)

    async def get_job(self, job_id: str) -> Job | None:
        return await self.backend.get_job(job_id)

    async def stored(self, job: Job) -> None:
        await self.lifecycle.stored.wait(job.id)

    async def save_reply(self, job: Job) -> None:
        await self.store.save_reply(job)

    async def answered_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        return await self.store.asked_in(platform, workspace, channel, thread)

    async def follow(self, job_id: str, after: int = 0) -> AsyncIterator[FollowItem]:
        """`(number, type, data)` of the job's events after `after`, then live ones; a
        `status` item (number None) when its status changes; ends with the final status."""
        last: dict[str, Any] | None = None
        while True:
            changed = self.backend.watch(job_id)
            job = await self.get_job(job_id)
            if job is None:
                return
            over = job.status in FINAL_STATUSES
            state = status_view(job)
            if state != last and not over:  # the final status comes after the last event
                yield None, "status", state
                last = state
            async for item in self.backend.events(job, after):
                after = item[0] if item[0] is not None else after
                yield item
            if over:
                if state != last:
                    yield None, "status", state
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self.backend.recheck_s)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def counts(self) -> tuple[int, int]:
        return self.backend.counts()

    async def start(self) -> int:
        return await self.backend.start()

    def stop_intake(self) -> None:
        self._accepting = False

    async def shutdown(self, grace: float, force: asyncio.Event | None = None) -> None:
        self._accepting = False
        await self.backend.shutdown(grace, force)

    async def drain(self) -> None:
        await self.backend.drain()
