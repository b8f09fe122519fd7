"""Group commit of concurrent submissions (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import func, select

from heavy_engine import HeavyConfig
from heavy_engine.db import Database, utcnow
from heavy_engine.db._job_tables import JobRow
from heavy_engine.jobs import Job
from heavy_engine.jobs._ingest import GroupInsert

from .conftest import spec


def _job(config: HeavyConfig, **fields: str) -> Job:
    return Job(id=uuid.uuid4().hex[:16], spec=spec(**fields), config=config,
               created_at=utcnow())


async def test_concurrent_inserts_share_transactions(db: Database, config: HeavyConfig) -> None:
    inserter = GroupInsert(db)
    jobs = [_job(config, question=f"q{i}") for i in range(60)]
    assert await asyncio.gather(*(inserter.insert(j) for j in jobs)) == [True] * 60
    assert inserter.batches < 10  # one commit per batch, not one per question
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(JobRow)) == 60


async def test_a_duplicate_in_a_batch_drops_only_itself(db: Database, config: HeavyConfig) -> None:
    inserter = GroupInsert(db)
    jobs = [_job(config, dedup_key="Ev1"), _job(config), _job(config, dedup_key="Ev1"),
            _job(config)]
    assert await asyncio.gather(*(inserter.insert(j) for j in jobs)) == [True, True, False, True]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(JobRow)) == 3


async def test_sqlite_commits_without_a_sync_each_under_wal(tmp_path: Path) -> None:
    async with await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}") as db:
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL


async def test_concurrent_job_saves_share_transactions(db: Database, config: HeavyConfig) -> None:
    from heavy_engine.jobs import JobStore

    store = JobStore(db, config)
    jobs = [_job(config, question=f"q{i}") for i in range(40)]
    assert await asyncio.gather(*(GroupInsert(db).insert(j) for j in jobs)) == [True] * 40
    for job in jobs:
        job.status, job.attempts = "running", 1
    await asyncio.gather(*(store.save(j) for j in jobs))
    assert store._updates.batches < 5  # one commit per batch, not one per job
    async with db.session() as session:
        rows = (await session.execute(select(JobRow.status, JobRow.attempts))).all()
    assert sorted(rows) == [("running", 1)] * 40
