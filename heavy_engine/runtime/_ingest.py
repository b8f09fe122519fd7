"""Fast ingestion: new jobs submitted at the same time are committed together (group commit).

On SQLite every commit is a write lock and a WAL sync; a hundred questions arriving at once
would otherwise queue for a hundred commits. `GroupInsert.insert(job)` waits for the batch its
row joined: while one batch is being written, the next one gathers every insert that arrives,
then is written in one transaction (one multi-row INSERT). When that meets a duplicate
`(platform, dedup_key)`, the batch is written again with a savepoint per row, so the duplicate
drops only its own row (its insert returns False), never its neighbours.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ._contract import Job
from ._models import JobRow
from ._settle import settle
from ._store import job_row, job_values


class GroupInsert:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self.batches = 0  # transactions written (for tests and benchmarks)
        self._pending: list[tuple[Job, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, job: Job) -> bool:
        """Write `job`'s row; False when its `(platform, dedup_key)` was already used."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())
        return await asyncio.shield(future)  # a cancelled caller leaves the batch intact

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            try:
                results = await self._write(batch)
            except Exception as err:
                settle((future for _, future in batch), error=err)
                continue
            settle((future for _, future in batch), results)

    async def _write(self, batch: list[tuple[Job, Any]]) -> list[bool]:
        # The common case first: every row at once (one multi-row INSERT, one commit); a
        # duplicate key anywhere rolls that back and the batch goes row by row.
        try:
            async with self.db.session() as session, session.begin():
                # one bulk INSERT of plain values: no ORM object and unit of work per row
                await session.execute(insert(JobRow),
                                      [job_values(job) for job, _ in batch])
        except IntegrityError:
            if len(batch) == 1 and batch[0][0].spec.dedup_key is not None:
                return [False]
        else:
            self.batches += 1
            return [True] * len(batch)
        results: list[bool] = []
        async with self.db.session() as session, session.begin():
            for job, _ in batch:
                try:
                    async with session.begin_nested():
                        session.add(job_row(job))
                    results.append(True)
                except IntegrityError:
                    if job.spec.dedup_key is None:
                        raise
                    results.append(False)
        self.batches += 1
        return results
