"""`JobStore`: the `jobs` table behind plain `Job` objects (no ORM objects leak out)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from ..core import ConfigError, HeavyConfig, validate_config
from ..db import Database, JobRow
from ._batch import GroupCommit
from ._contract import Job, JobSpec
from ._finish import storable
from ._results import result_from_dict, result_to_dict

log = logging.getLogger("heavy.runtime")
UNFINISHED = ("queued", "running", "interrupted")
_CONFIGS_KEPT = 256


class _Configs:
    """Stored settings snapshots, validated once each: most jobs of a process share a few
    (one per channel set-up), and validating one costs more than the rest of reading its row.
    The configs are frozen, so sharing one is safe; a shared one also keeps its providers'
    fingerprints cached (`ProviderPool`)."""

    def __init__(self) -> None:
        self._known: dict[bytes, HeavyConfig] = {}

    def get(self, data: dict[str, Any]) -> HeavyConfig:
        try:
            key = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: checked, not kept
            return validate_config(data)
        config = self._known.get(key)
        if config is None:
            config = validate_config(data)  # ConfigError: not kept
            if len(self._known) >= _CONFIGS_KEPT:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[key] = config
        return config


def job_row(job: Job) -> JobRow:
    """The `jobs` row of a new job."""
    return JobRow(**job_values(job))


def job_values(job: Job) -> dict[str, Any]:
    """The columns of a new job's row: the one place that maps a job onto its columns."""
    spec = job.spec
    return dict(
        id=job.id, platform=spec.platform, workspace=spec.workspace, channel=spec.channel,
        thread=spec.thread, requester=spec.user, question=storable(spec.question),
        context=storable(spec.context), flags=dict(spec.flags), attachments=spec.attachments,
        reply=dict(spec.reply), dedup_key=spec.dedup_key,
        config=job.config.model_dump(mode="json"), status=job.status, attempts=job.attempts,
        stopped_by=job.stopped_by, created_at=job.created_at, **_outcome(job),
    )


class JobStore:
    def __init__(self, db: Database, fallback_config: HeavyConfig) -> None:
        self.db = db
        self._updates = GroupUpdate(db)
        # Used when a stored snapshot no longer validates; the runner then fails the job.
        self.fallback_config = fallback_config
        self.invalid: set[str] = set()
        self._configs = _Configs()

    async def insert(self, job: Job) -> bool:
        """Write a new job; False when its `(platform, dedup_key)` was already used."""
        row = job_row(job)
        try:
            async with self.db.session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            if job.spec.dedup_key is None:
                raise
            return False
        return True

    async def seen(self, platform: str, dedup_key: str) -> bool:
        async with self.db.session() as session:
            found = await session.scalar(select(JobRow.id).where(
                JobRow.platform == platform, JobRow.dedup_key == dedup_key))
        return found is not None

    async def asked_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        """True when any job was asked in that thread (uses the channel index)."""
        async with self.db.session() as session:
            found = await session.scalar(select(JobRow.id).where(
                JobRow.platform == platform, JobRow.workspace == workspace,
                JobRow.channel == channel, JobRow.thread == thread).limit(1))
        return found is not None

    async def find(self, platform: str, dedup_key: str) -> Job | None:
        """The job submitted with this deduplication key, if any."""
        async with self.db.session() as session:
            row = await session.scalar(select(JobRow).where(
                JobRow.platform == platform, JobRow.dedup_key == dedup_key))
        return None if row is None else self._to_job(row)

    async def save(self, job: Job) -> None:
        """Write the job's status, timings, attempts, stopper, usage, answer, error and result."""
        values = {"status": job.status, "attempts": job.attempts, "started_at": job.started_at,
                  "finished_at": job.finished_at, "stopped_by": job.stopped_by,
                  **_outcome(job)}
        # Jobs ending at the same moment share one commit (on SQLite, one writer: a commit
        # each would queue a thousand jobs' ends behind each other), and one prepared
        # statement: no ORM statement compiled and cache-keyed per save.
        await self._updates.execute(_SAVE, {"job_id": job.id,
                                            **{f"v_{k}": v for k, v in values.items()}})

    async def save_reply(self, job: Job) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(JobRow).where(JobRow.id == job.id).values(reply=dict(job.reply)))

    async def get(self, job_id: str) -> Job | None:
        async with self.db.reads() as session:
            row = await session.get(JobRow, job_id)
        return None if row is None else self._to_job(row)

    async def unfinished(self) -> list[Job]:
        """Jobs a previous process left queued, running or interrupted, oldest first."""
        async with self.db.session() as session:
            rows = await session.scalars(select(JobRow).where(JobRow.status.in_(UNFINISHED))
                                         .order_by(JobRow.created_at, JobRow.id))
            return [self._to_job(r) for r in rows]

    async def usage_since(
        self, since: datetime, platform: str, workspace: str, channel: str | None = None
    ) -> tuple[int, float]:
        """Tokens and cost of the jobs created since `since` in a workspace (or one channel)."""
        query = select(func.coalesce(func.sum(JobRow.prompt_tokens + JobRow.completion_tokens), 0),
                       func.coalesce(func.sum(JobRow.cost_usd), 0.0)).where(
            JobRow.platform == platform, JobRow.workspace == workspace,
            JobRow.created_at >= since)
        if channel is not None:
            query = query.where(JobRow.channel == channel)
        async with self.db.session() as session:
            tokens, cost = (await session.execute(query)).one()
        return int(tokens), float(cost)

    async def user_tokens_since(self, since: datetime, platform: str, user: str) -> int:
        """Tokens of the jobs `user` asked since `since` on `platform`, in any workspace."""
        query = select(func.coalesce(func.sum(JobRow.prompt_tokens + JobRow.completion_tokens),
                                     0)).where(JobRow.platform == platform,
                                               JobRow.requester == user,
                                               JobRow.created_at >= since)
        async with self.db.session() as session:
            return int(await session.scalar(query) or 0)

    def _to_job(self, row: JobRow) -> Job:
        spec = JobSpec(platform=row.platform, workspace=row.workspace, channel=row.channel,
                       user=row.requester, question=row.question, thread=row.thread,
                       context=row.context, flags=dict(row.flags or {}),
                       reply=dict(row.reply or {}), dedup_key=row.dedup_key,
                       attachments=row.attachments)
        try:
            config = self._configs.get(row.config)
        except ConfigError as err:
            log.warning("job %s: stored settings no longer validate: %s", row.id, err)
            config = self.fallback_config
            self.invalid.add(row.id)
        return Job(
            id=row.id, spec=spec, config=config, status=row.status,  # type: ignore[arg-type]
            error=row.error, created_at=row.created_at, started_at=row.started_at,
            finished_at=row.finished_at, attempts=row.attempts, stopped_by=row.stopped_by,
            result=None if row.result is None else result_from_dict(row.result, row.question),
        )


_SAVED = ("status", "attempts", "started_at", "finished_at", "stopped_by", "error", "answer",
          "result", "prompt_tokens", "completion_tokens", "cost_usd", "llm_calls")
_JOBS = cast(Table, JobRow.__table__)
_SAVE = update(_JOBS).where(_JOBS.c.id == bindparam("job_id")).values(
    {name: bindparam(f"v_{name}", type_=_JOBS.c[name].type) for name in _SAVED})


def _outcome(job: Job) -> dict[str, Any]:
    r = job.result
    outcome: dict[str, Any] = storable({  # no lone surrogate reaches the database
        "error": job.error,
        "answer": r.answer if r else None,
        "result": result_to_dict(r) if r else None,
        "prompt_tokens": r.usage.prompt_tokens if r else 0,
        "completion_tokens": r.usage.completion_tokens if r else 0,
        "cost_usd": r.usage.cost_usd if r else 0.0,
        "llm_calls": r.llm_calls if r else 0,
    })
    return outcome


class GroupUpdate:
    """Statements issued at the same time run in one transaction, in order (group commit).

    While one batch is being written the next gathers; a failure fails the whole batch (each
    caller sees it, and `save_retrying` tries again), which only database-wide trouble causes
    for updates by primary key.
    """

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self._group: GroupCommit[tuple[Any, dict[str, Any] | None], None] = GroupCommit(
            self._write, max_size=max_batch)

    @property
    def batches(self) -> int:
        """Transactions written (for tests and benchmarks)."""
        return self._group.batches

    async def execute(self, statement: Any, params: dict[str, Any] | None = None) -> None:
        """Run `statement` (with `params`, if given) in the next batch."""
        await self._group.add((statement, params))

    async def _write(self, batch: list[tuple[Any, dict[str, Any] | None]]) -> list[None]:
        async with self.db.session() as session, session.begin():
            for statement, params in _runs(batch):
                await session.execute(statement, params)
        return [None] * len(batch)


def _runs(batch: list[tuple[Any, dict[str, Any] | None]]) -> list[tuple[Any, Any]]:
    """The batch as (statement, parameters) in order, where consecutive uses of one statement
    with parameters become one executemany."""
    runs: list[tuple[Any, Any]] = []
    for statement, params in batch:
        if params is None:
            runs.append((statement, None))
        elif runs and runs[-1][0] is statement and isinstance(runs[-1][1], list):
            runs[-1][1].append(params)
        else:
            runs.append((statement, [params]))
    return runs
