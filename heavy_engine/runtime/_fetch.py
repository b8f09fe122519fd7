"""Jobs taken from the queue several at a time, each admitted in the same round trip.

procrastinate's worker asks its `JobManager` for one job per call (`fetch_job`, one round trip),
and each job then took a second round trip to be admitted under the running limits
(`heavy_admit_job`). A burst of 300 questions on 3 replicas waited up to 2.4 s to be fetched
(p99), each fetch loop taking its jobs one by one while the event loop ran hundreds of others.

`FetchingManager.fetch_job` hands the worker a job it already fetched for it; when it holds
none, one statement takes up to as many jobs as that worker has free slots and admits each:
procrastinate's own fetch (`procrastinate_fetch_job_v2`, what `fetch_job` calls), once per job
in a recursive query, where each call sees the jobs the earlier ones took; then heavy's
admission (`heavy_admit_job`, migration 0010) of every job taken. Only free slots are filled, so
no job is taken (and counted as running) that the worker could not start at once. The runner's
task picks up its job's admission (`admission`); a job still held when its worker stops goes
back to the queue (the runner's `_give_back`), as if never taken.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from procrastinate import jobs as pjobs
from procrastinate.manager import JobManager
from psycopg.rows import dict_row

log = logging.getLogger("heavy.runtime")

# At most this many jobs per statement: the admission lock is held until it commits.
BATCH = 32
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


class FetchingManager(JobManager):
    """procrastinate's `JobManager`, fetching (and admitting) jobs in batches.

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
            await cur.execute(_FETCH, params)
            rows = await cur.fetchall()
        if not rows:
            return None
        taken: deque[pjobs.Job] = deque()
        for row in rows:
            job = pjobs.Job.from_row({name: row[f"q_{name}"] for name in _JOB})
            admitted = None if row["id"] is None else {
                name: value.astimezone(UTC) if isinstance(value, datetime) else value
                for name, value in row.items() if not name.startswith("q_")}
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
