"""`Lifecycle.run` against a backend's `Steps` written here: what it records, and when."""

from __future__ import annotations

import asyncio
from typing import cast

from heavy_engine import Engine, HeavyConfig, Run
from heavy_engine.db import utcnow
from heavy_engine.jobs import Job, JobStore
from heavy_engine.jobs._lifecycle import Lifecycle
from heavy_engine.observability import Metrics

from .conftest import spec


class StoppedAtBegin:
    """A backend whose user's Stop lands while the attempt is being recorded (on PostgreSQL,
    procrastinate's abort cancels the task wherever it waits)."""

    def __init__(self) -> None:
        self.began = asyncio.Event()
        self.ended: list[tuple[str, str | None]] = []
        self.interrupted_jobs: list[str] = []

    async def begin(self, job: Job) -> None:
        self.began.set()
        await asyncio.Event().wait()  # the Stop cancels the task here

    def running(self, job: Job, run: Run, replayed: bool) -> None:
        raise AssertionError("a stopped job has no run")

    async def store_result(self, job: Job) -> None:
        raise AssertionError("a stopped job has no result to store")

    async def end(self, job: Job, *, with_result: bool) -> None:
        self.ended.append((job.status, job.error))

    def halt(self) -> None:
        pass

    async def interrupted(self, job: Job) -> None:
        self.interrupted_jobs.append(job.id)

    def stopped_by_user(self) -> bool:
        return True


async def test_a_stop_before_the_run_exists_ends_the_job_instead_of_retrying_it(
        config: HeavyConfig) -> None:
    metrics = Metrics()
    lifecycle = Lifecycle(cast(Engine, None), cast(JobStore, None), metrics, max_attempts=3,
                          clock=utcnow)
    job = Job(id="j1", spec=spec(), config=config, status="running", created_at=utcnow())
    steps = StoppedAtBegin()
    task = asyncio.get_running_loop().create_task(lifecycle.run(job, steps))
    await steps.began.wait()
    task.cancel()
    await asyncio.wait_for(task, 5)  # ended, not re-raised as a shutdown's interruption
    assert steps.interrupted_jobs == []
    assert steps.ended == [("cancelled", "The request was cancelled.")]
    assert job.finished_at is not None
    assert metrics.registry.get_sample_value(
        "heavy_jobs_finished_total", {"platform": "slack", "status": "cancelled"}) == 1.0
