"""Submissions on PostgreSQL: admission under the queue limits, exact across replicas.

A submission is one short transaction: under advisory locks it checks the limits by counting
the `jobs` table, inserts the job row and defers its procrastinate job (queueing lock = the job
id), so a job is either fully accepted or not at all, whichever replica took it. Submissions
that arrive together share that transaction (group commit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from procrastinate import App
from procrastinate import jobs as pjobs
from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..core import HeavyConfig
from ..db import Database, JobRow
from ._backend import Admission
from ._batch import GroupCommit
from ._contract import Job, JobRejected, JobSpec
from ._events_log import CHANNEL
from ._limits import queue_refusal, startable
from ._store import job_values

TASK = "heavy.run_job"
QUEUE = "heavy"
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
_INSERT_ROWS = pg_insert(JobRow).on_conflict_do_nothing().returning(JobRow.id)


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


class Intake:
    """`add(job, refusal)`: record a submission (refused or queued) with those that arrive
    at the same moment, in one transaction."""

    def __init__(self, db: Database, app: App, config: HeavyConfig,
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.app = app
        self.config = config
        self._clock = clock
        self._group = GroupCommit(self._record, max_size=200)

    @property
    def batches(self) -> int:
        """Transactions written (for tests and benchmarks)."""
        return self._group.batches

    async def add(self, job: Job, refusal: JobRejected | None) -> Admission:
        return await self._group.add((job, refusal))

    async def _record(self, batch: list[tuple[Job, JobRejected | None]]) -> list[Admission]:
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

    async def _place(self, session: AsyncSession, job: Job) -> tuple[JobRejected | None, int]:
        """(refusal, position): 0 when it can start at once, else its place in the queue
        (when `_Held.room` has no quick yes: this reads every running and queued job).

        Queued jobs that the limits let start now are starting, not waiting (a worker is about
        to admit them), exactly as the local backend would have started them already.
        Other jobs are judged by this job's per-user and per-channel limits.
        """
        def as_job(r: Any) -> Job:
            return Job(id=r.id, spec=JobSpec(platform=r.platform, workspace=r.workspace,
                                             channel=r.channel, user=r.requester, question=""),
                       config=job.config)

        # One statement, one snapshot: read apart, a job a worker admitted between the two
        # reads was in neither (queued for the first, running for the second), and the job
        # placed here was told it starts at once behind it.
        rows = (await session.execute(
            select(JobRow.id, JobRow.platform, JobRow.workspace, JobRow.channel,
                   JobRow.requester, JobRow.status)
            .where(JobRow.status.in_(("running", "queued"))).order_by(JobRow.created_at))).all()
        running = [as_job(r) for r in rows if r.status == "running"]
        queue = [as_job(r) for r in rows if r.status == "queued"]
        chosen = startable([*queue, job], running, self.config.limits.max_concurrent_jobs)
        if any(j is job for j in chosen):
            return None, 0
        starting = {j.id for j in chosen}
        waiting = [j for j in queue if j.id not in starting]
        return queue_refusal(job, waiting, self.config.limits), len(waiting) + 1
