"""Fast ingestion: new jobs submitted at the same time are committed together (group commit).

On SQLite every commit is a write lock and a WAL sync; a hundred questions arriving at once
would otherwise queue for a hundred commits. `GroupInsert.insert(job)` waits for the batch its
row joined: while one batch is being written, the next one gathers every insert that arrives,
then is written in one transaction (one multi-row INSERT). When that meets a duplicate
`(platform, dedup_key)`, the batch is written again with a savepoint per row, so the duplicate
drops only its own row (its insert returns False), never its neighbours.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from ..db import Database, JobRow
from ._batch import GroupCommit
from ._contract import Job
from ._store import job_row, job_values


class GroupInsert:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self._group: GroupCommit[Job, bool] = GroupCommit(self._write, max_size=max_batch)

    @property
    def batches(self) -> int:
        """Transactions written (for tests and benchmarks)."""
        return self._group.batches

    async def insert(self, job: Job) -> bool:
        """Write `job`'s row; False when its `(platform, dedup_key)` was already used."""
        return await self._group.add(job)

    async def _write(self, batch: list[Job]) -> list[bool]:
        # The common case first: every row at once (one multi-row INSERT, one commit); a
        # duplicate key anywhere rolls that back and the batch goes row by row.
        try:
            async with self.db.session() as session, session.begin():
                # one bulk INSERT of plain values: no ORM object and unit of work per row
                await session.execute(insert(JobRow), [job_values(job) for job in batch])
        except IntegrityError:
            if len(batch) == 1 and batch[0].spec.dedup_key is not None:
                return [False]
        else:
            return [True] * len(batch)
        results: list[bool] = []
        async with self.db.session() as session, session.begin():
            for job in batch:
                try:
                    async with session.begin_nested():
                        session.add(job_row(job))
                    results.append(True)
                except IntegrityError:
                    if job.spec.dedup_key is None:
                        raise
                    results.append(False)
        return results
