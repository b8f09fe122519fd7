"""`InMemoryRunner`: the job runner without a database, for the adapters' unit tests.

Same interface as the durable runner; jobs and deduplication keys live only in this process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from .._engine import Engine, HeavyRequest, Run, validate_question
from ..attachments import Attachments
from ._access import access_refusal
from ._contract import JOB_STATUS, ConfigResolver, Delivery, Job, JobSpec

log = logging.getLogger("heavy.runtime")


class InMemoryRunner:
    def __init__(self, engine: Engine, resolve: ConfigResolver, *, concurrency: int = 8) -> None:
        self.engine = engine
        self._resolve = resolve
        self._slots = asyncio.Semaphore(concurrency)
        self._deliveries: dict[str, Delivery] = {}
        self._jobs: dict[str, Job] = {}
        self._runs: dict[str, Run] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}  # job id -> its task, until it ends
        self._seen: set[str] = set()

    def register_delivery(self, platform: str, delivery: Delivery) -> None:
        self._deliveries[platform] = delivery

    async def submit(self, spec: JobSpec) -> Job | None:
        if spec.dedup_key is not None:
            key = f"{spec.platform}:{spec.dedup_key}"
            if key in self._seen:
                return None
            self._seen.add(key)
        config = await self._resolve(spec)
        spec.question = validate_question(spec.question, config)
        job = Job(id=uuid.uuid4().hex[:12], spec=spec, config=config)
        refusal = access_refusal(job)  # who may ask: before any LLM call
        if refusal is not None:
            raise refusal
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))
        return job

    async def _run(self, job: Job) -> None:
        async with self._slots:
            job.status = "running"
            request = HeavyRequest(job.spec.question, job.config, id=job.id,
                                   context=job.spec.context, requester=job.spec.user,
                                   attachments=Attachments.from_dict(job.spec.attachments)
                                   if job.spec.attachments else None)
            run = self.engine.start(request)
            self._runs[job.id] = run
            delivery = self._deliveries.get(job.spec.platform)
            try:
                if delivery is not None:
                    await delivery.deliver(job, run)
                result = await run
                job.status = JOB_STATUS[result.status]
                job.error = result.error
            except Exception:
                log.exception("delivery of job %s failed", job.id)
                run.cancel()
                job.status = "failed"
            finally:
                self._runs.pop(job.id, None)

    async def cancel(self, job_id: str) -> bool:
        """Stop a running job, or drop one still waiting for a slot."""
        if (run := self._runs.get(job_id)) is not None:
            return run.cancel()
        task, job = self._tasks.get(job_id), self._jobs.get(job_id)
        if task is None or job is None or job.status != "queued":
            return False
        task.cancel()
        job.status = "cancelled"
        return True

    def get_run(self, job_id: str) -> Run | None:
        return self._runs.get(job_id)

    def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def save_reply(self, job: Job) -> None:
        return None  # nothing to persist in memory

    async def answered_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        return any(
            (j.spec.platform, j.spec.workspace, j.spec.channel, j.spec.thread)
            == (platform, workspace, channel, thread) for j in self._jobs.values())

    async def drain(self) -> None:
        """Wait for every submitted job to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
