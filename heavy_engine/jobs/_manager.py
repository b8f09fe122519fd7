"""procrastinate's `JobManager` with fewer round trips: jobs are taken from the queue several at
a time, each admitted in the same round trip, and a job's end is written with its finish.

Taking jobs.

procrastinate's worker asks its `JobManager` for one job per call (`fetch_job`, one round trip),
and each job then took a second round trip to be admitted under the running limits
(`heavy_admit_job`). A burst of 300 questions on 3 replicas waited up to 2.4 s to be fetched
(p99), each fetch loop taking its jobs one by one while the event loop ran hundreds of others.

`QueueManager.fetch_job` hands the worker a job it already fetched for it; when it holds
none, one statement takes up to as many jobs as that worker has free slots and admits each:
procrastinate's own fetch (`procrastinate_fetch_job_v2`, what `fetch_job` calls), once per job
in a recursive query, where each call sees the jobs the earlier ones took; then heavy's
admission (`heavy_admit_job`, migration 0010) of every job taken. Only free slots are filled, so
no job is taken (and counted as running) that the worker could not start at once. The runner's
task picks up its job's admission (`admission`); a job still held when its worker stops goes
back to the queue (`Workers.give_back`, `_pg_worker`), as if never taken.

Ending jobs. A job's last update of its `jobs` row (status, outcome, last events) took one round
trip, then procrastinate's finish another. The runner hands that update over (`end_with`) and
`finish_job` writes both in one statement; the finishes of jobs that end at the same moment go
in one pipeline (one round trip, one commit: `GroupCommit`). A job retried instead of finished
gets its update written first, on its own.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg
from procrastinate import jobs as pjobs
from procrastinate.manager import JobManager
from psycopg.rows import dict_row

from ._batch import GroupCommit
from ._direct import in_utc

log = logging.getLogger("heavy.runtime")

# At most this many jobs per statement: the admission lock is held until it commits.
BATCH = 32
# The batch fetch and the finishes are prepared on their first use on a connection, not after
# psycopg's five: a burst spreads over dozens of pooled connections, and planning each unnamed
# statement anew cost PostgreSQL 1-3 ms a call (300 q on 3 replicas: 180 fetches parsed and
# planned 180 times). Prepared, PostgreSQL's CPU was ~15% lower (3 interleaved A/B runs,
# normalised by the machine gauge).
_JOB = ("id", "status", "task_name", "priority", "lock", "queueing_lock", "args",
        "scheduled_at", "queue_name", "attempts", "worker_id")
# The fetched job's columns come first, as `q_<name>`; then the job's `jobs` row after its
# admission (every column NULL when there is no such row).
_FETCH = f"""
WITH RECURSIVE taken(n, job) AS (
    SELECT 1, procrastinate_fetch_job_v2(%(queues)s::varchar[], %(worker_id)s)
  UNION ALL
    SELECT n + 1, procrastinate_fetch_job_v2(%(queues)s::varchar[], %(worker_id)s)
    FROM taken WHERE n < %(n)s AND (job).id IS NOT NULL
)
SELECT {", ".join(f"(job).{name} AS q_{name}" for name in _JOB)}, admitted.*
FROM taken
LEFT JOIN LATERAL heavy_admit_job((job).args ->> 'job_id', %(now)s, %(max)s, %(per_user)s,
                                  %(per_channel)s) AS admitted ON true
WHERE (job).id IS NOT NULL
ORDER BY n
"""
# An update given to `end_with` (WITH items, the last `changed`: the ids of the rows it
# updated), its notification, and procrastinate's finish (what `finish_job` runs), in one.
_FINISH = ("WITH {ctes}, notified AS (SELECT pg_notify(%(channel_)s, id) FROM changed) "
           "SELECT procrastinate_finish_job_v1(%(finish_id_)s, %(finish_status_)s, "
           "%(finish_delete_)s), (SELECT count(*) FROM notified)")
# The same update on its own (`RowWriter.set`, `_pg_rows`).
UPDATE = "WITH {ctes} SELECT pg_notify(%(channel_)s, id) FROM changed"
_Statement = tuple[str, dict[str, Any]]


class QueueManager(JobManager):
    """procrastinate's `JobManager`, taking (and admitting) and ending jobs in batches.

    `free_slots(worker_id)` is how many jobs that worker can start now (the one asking
    included); `admit_params()` gives the admission's limits and clock, as `heavy_admit_job`
    takes them (`now`, `max`, `per_user`, `per_channel`)."""

    def __init__(self, connector: Any, free_slots: Callable[[int], int],
                 admit_params: Callable[[], Mapping[str, Any]]) -> None:
        super().__init__(connector)
        self._free_slots = free_slots
        self._admit_params = admit_params
        self._held: dict[int, deque[pjobs.Job]] = {}
        self._admitted: dict[str, dict[str, Any] | None] = {}
        self._endings: dict[int, _Statement] = {}
        self._finishing = GroupCommit(self._write, max_size=64)

    async def fetch_job(self, queues: Iterable[str] | None,
                        worker_id: int) -> pjobs.Job | None:
        held = self._held.get(worker_id)
        if held:
            return held.popleft()
        n = max(1, min(self._free_slots(worker_id), BATCH))
        params = {"queues": list(queues) if queues is not None else None,
                  "worker_id": worker_id, "n": n, **self._admit_params()}
        pool = self.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_FETCH, params, prepare=True)
            rows = await cur.fetchall()
        if not rows:
            return None
        taken: deque[pjobs.Job] = deque()
        for row in rows:
            job = pjobs.Job.from_row({name: row[f"q_{name}"] for name in _JOB})
            admitted = None if row["id"] is None else in_utc(
                {name: value for name, value in row.items() if not name.startswith("q_")})
            self._admitted[str(job.task_kwargs.get("job_id"))] = admitted
            taken.append(job)
        first = taken.popleft()
        if taken:
            self._held[worker_id] = taken
        return first

    def admission(self, job_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(True, the job's row as its admission left it, or None when it has none) for a job
        this manager fetched; (False, None) for one it did not (fetched before a restart of
        this code, or by another path): the caller admits it itself."""
        if job_id in self._admitted:
            return True, self._admitted.pop(job_id)
        return False, None

    def drop_held(self, keep: set[int]) -> list[pjobs.Job]:
        """The jobs held for workers other than `keep` (ones that stopped), forgotten here:
        the caller gives them back to the queue."""
        dropped: list[pjobs.Job] = []
        for worker_id in [w for w in self._held if w not in keep]:
            dropped.extend(self._held.pop(worker_id))
        for job in dropped:
            self._admitted.pop(str(job.task_kwargs.get("job_id")), None)
        return dropped

    def end_with(self, job_id: int, ctes: str, params: dict[str, Any]) -> None:
        """Write this update of a `jobs` row when procrastinate's job `job_id` is finished (or
        before it is retried): `ctes` are the WITH items of the update, the last one named
        `changed`, returning the `id` of the row; `params` include `channel_`, where the
        change is announced."""
        self._endings[job_id] = (ctes, params)

    async def finish_job_by_id_async(self, job_id: int, status: pjobs.Status,
                                     delete_job: bool) -> None:
        ending = self._endings.pop(job_id, None)
        if ending is None:
            await super().finish_job_by_id_async(job_id, status, delete_job)
            return
        ctes, params = ending
        failed = await self._finishing.add((_FINISH.format(ctes=ctes), {
            **params, "finish_id_": job_id, "finish_status_": status.value,
            "finish_delete_": delete_job}))
        if failed is not None:
            raise failed

    async def retry_job_by_id_async(self, job_id: int, retry_at: datetime,
                                    priority: int | None = None, queue: str | None = None,
                                    lock: str | None = None) -> None:
        ending = self._endings.pop(job_id, None)
        if ending is not None:
            ctes, params = ending
            pool = self.connector.pool  # type: ignore[attr-defined]
            async with pool.connection() as conn:
                await conn.execute(UPDATE.format(ctes=ctes), params)
        await super().retry_job_by_id_async(job_id, retry_at, priority, queue, lock)

    async def _write(self, statements: list[_Statement]) -> list[Exception | None]:
        """Statements in one pipeline: one round trip, one transaction; when one fails, each
        again on its own, so only its own caller gets the error."""
        pool = self.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            try:
                async with conn.pipeline():
                    for query, params in statements:
                        await conn.execute(query, params, prepare=True)
                return [None] * len(statements)
            except psycopg.Error as err:
                if len(statements) == 1 or conn.broken:
                    return [err] * len(statements)
        results: list[Exception | None] = []
        for query, params in statements:
            try:
                async with pool.connection() as conn:
                    await conn.execute(query, params)
                results.append(None)
            except psycopg.Error as err:
                results.append(err)
        return results
